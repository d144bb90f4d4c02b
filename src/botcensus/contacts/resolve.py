"""RIPE handles resolved into abuse contacts, and the contact record rows they make.

Handles are numbered as the files are read; here the numbers index arrays, so resolving
millions of resources is a few numpy gathers. See ripe_source.py for the reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.contacts.keys import KeyRanges
from botcensus.contacts.store import RECORD_SCHEMA
from botcensus.enrich.ranges import Index
from botcensus.ipaddr import Mask, hilo_from_keys, ipv4_from_int, ipv4_from_keys


def range_keys(
    cls: str, first: pa.Array, bits: npt.NDArray[np.int64], ranges: KeyRanges
) -> pa.Table:
    """The range columns of RECORD_SCHEMA, and `key`: the inetnum or inet6num key as text."""
    start_hi, start_lo = hilo_from_keys(ranges.start)
    end_hi, end_lo = hilo_from_keys(ranges.end)
    if cls == "inetnum":  # RIPE writes every IPv4 range as 'first - last', prefix or not
        first_ip = ipv4_from_int(ipv4_from_keys(ranges.start))
        key = pc.binary_join_element_wise(
            first_ip, ipv4_from_int(ipv4_from_keys(ranges.end)), " - "
        )
    else:
        key = pc.binary_join_element_wise(first, pa.array(bits).cast(pa.string()), "/")
    columns = {"ip_version": pa.array(ranges.version, pa.uint8()), "start_hi": start_hi}
    columns |= {"start_lo": start_lo, "end_hi": end_hi, "end_lo": end_lo, "key": key}
    return pa.table(columns)


@dataclass(frozen=True)
class Found:
    """Per resource: the handle id of the role whose abuse-mailbox answers (-1: none),
    whether it came through the organisation, and whether a named abuse-c did not resolve."""

    contact: Index
    org: Index
    via_org: Mask
    unresolved: Mask


def resolve(own: Index, org: Index, mailbox: pa.Array, org_abuse: Index) -> Found:
    """Own abuse-c first, else the organisation's; a handle counts if its role has a mailbox."""
    n = len(mailbox)
    has = np.append(np.asarray(mailbox.is_valid(), dtype=bool), False)  # [n]: "no handle"
    org_abuse = np.append(org_abuse, -1)
    via = org_abuse[np.where(org >= 0, org, n)]
    own_ok, via_ok = has[np.where(own >= 0, own, n)], has[np.where(via >= 0, via, n)]
    contact = np.where(own_ok, own, np.where(via_ok, via, -1))
    unresolved = (contact < 0) & ((own >= 0) | (via >= 0))
    return Found(contact, org, ~own_ok & via_ok, unresolved)


def to_records(
    cls: str, keys: pa.Table, kept: Mask, found: Found,
    handles: pa.Array, mailbox: pa.Array, org_name: pa.Array,
) -> pa.Table:  # fmt: skip
    """RECORD_SCHEMA rows for the kept resources of one class."""
    rows = np.flatnonzero(kept)
    take = pa.array(rows)
    contact = pa.array(found.contact[rows])
    org = found.org[rows]
    org_take = pa.array(org, mask=org < 0)
    abuse_c, org_handle = handles.take(contact), handles.take(org_take)
    via = pc.binary_join_element_wise(" (abuse-c ", abuse_c, " via ", org_handle, ")", "")
    own = pc.binary_join_element_wise(" (abuse-c ", abuse_c, ")", "")
    suffix = pc.if_else(pa.array(found.via_org[rows]), via, own)
    values = {
        "level": pa.repeat(pa.scalar("asn" if cls == "aut-num" else "prefix"), len(rows)),
        "abuse_email": mailbox.take(contact),
        "abuse_org": org_name.take(org_take),
        "record": pc.binary_join_element_wise(f"{cls} ", keys.column("key").take(take), suffix, ""),
    }
    columns = [
        values[f.name] if f.name in values
        else keys.column(f.name).take(take) if f.name in keys.column_names
        else pa.nulls(len(rows), f.type)
        for f in RECORD_SCHEMA
    ]  # fmt: skip
    return pa.Table.from_arrays(columns, schema=RECORD_SCHEMA)
