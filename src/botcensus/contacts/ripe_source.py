"""RIPE objects -> abuse contact records: inetnum and inet6num ranges, aut-num ASNs.

Only handles, key text and integer arrays are kept while the split files stream past (the
inetnum file is several GB of text); handles are resolved and keys parsed, vectorised, at
the end. A resource's contact is the abuse-mailbox of the role its own abuse-c names, else
of the role its organisation's abuse-c names. Resources with neither are not records: at
lookup the closest less specific range that has a contact answers for them (RIPE's rule).
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.contacts.keys import text_ranges
from botcensus.contacts.mailbox import mailbox_list
from botcensus.contacts.resolve import range_keys, resolve, to_records
from botcensus.contacts.rpsl import MAX_TEXT, RpslObject, iter_objects, read_blocks
from botcensus.contacts.store import RECORD_SCHEMA, Problem

EXCLUDED_NETNAMES: Final = frozenset({"IANA-BLK", "NON-RIPE-NCC-MANAGED-ADDRESS-BLOCK"})
"""netnames of placeholder objects spanning address space the RIPE NCC does not manage:
a contact on one would answer for every address that no real range covers."""
_RANGE: Final = re.compile(r"(\S+?)\s*-\s*(\S+)")
_PREFIX: Final = re.compile(r"(\S+)/(\d{1,3})")
_CHUNK: Final = 65536
_KEY_CHUNK: Final = 1 << 19


class _Text:
    """A growing string column kept as Arrow chunks, compact however many rows it gets."""

    def __init__(self) -> None:
        self.chunks: list[pa.Array] = []
        self.pending: list[str | None] = []

    def append(self, value: str | None) -> None:
        self.pending.append(value)
        if len(self.pending) >= _CHUNK:
            self.chunks.append(pa.array(self.pending, pa.string()))
            self.pending = []

    def array(self) -> pa.Array:
        chunks = [*self.chunks, pa.array(self.pending, pa.string())]
        return pa.concat_arrays(chunks)


@dataclass
class _Resources:
    """inetnum, inet6num or aut-num objects: key text and handle ids, one row per object."""

    first: _Text = field(default_factory=_Text)
    last: _Text = field(default_factory=_Text)
    bits: array[int] = field(default_factory=lambda: array("q"))
    abuse: array[int] = field(default_factory=lambda: array("q"))
    org: array[int] = field(default_factory=lambda: array("q"))
    line: array[int] = field(default_factory=lambda: array("q"))
    file: array[int] = field(default_factory=lambda: array("q"))

    def numpy(self, name: str) -> npt.NDArray[np.int64]:
        return np.frombuffer(getattr(self, name), dtype=np.int64)


@dataclass
class RipeCounts:
    """What a RIPE import read and kept."""

    objects: Counter[str] = field(default_factory=Counter)
    """Objects read, by class."""
    with_contact: Counter[str] = field(default_factory=Counter)
    """inetnum / inet6num / aut-num objects kept, by class: those with an abuse contact."""
    without_contact: int = 0
    """Resources with no abuse-c of their own nor via their org (ranges inherit one)."""
    unresolved: int = 0
    """Resources whose abuse-c names no role with an abuse-mailbox among the files read."""
    excluded: int = 0
    """Placeholder objects skipped for their netname (EXCLUDED_NETNAMES)."""


class RipeReader:
    """Reads split files with `read`; `records()` resolves handles into contact records."""

    def __init__(self, exclude_netnames: Container[str] = EXCLUDED_NETNAMES) -> None:
        self.counts = RipeCounts()
        self._read_problems: list[Problem] = []
        self._key_problems: list[Problem] = []
        self._exclude = exclude_netnames
        self._files: list[str] = []
        self._handles: dict[str, int] = {}
        self._mailbox: dict[int, str] = {}
        self._org_name: dict[int, str] = {}
        self._org_abuse: dict[int, int] = {}
        self._rows = {cls: _Resources() for cls in ("inetnum", "inet6num", "aut-num")}
        self._add: dict[str, Callable[[RpslObject], str | None]] = {
            "inetnum": self._inetnum,
            "inet6num": self._inet6num,
            "aut-num": self._aut_num,
            "role": self._role,
            "organisation": self._organisation,
        }

    def read(self, path: Path) -> None:
        """Stream one file's objects in."""
        self._files.append(str(path))
        for item in iter_objects(read_blocks(path), str(path), self._add):
            if isinstance(item, Problem):
                self._read_problems.append(item)
                continue
            self.counts.objects[item.cls] += 1
            reason = self._add[item.cls](item)
            if reason is not None:
                problem = Problem(item.file, item.line, reason, item.text[:MAX_TEXT])
                self._read_problems.append(problem)

    def _id(self, handle: str | None) -> int:
        if handle is None:
            return -1
        return self._handles.setdefault(handle.upper(), len(self._handles))

    def _resource(self, obj: RpslObject, first: str, last: str | None, bits: int) -> None:
        found = obj.values("netname", "abuse-c", "org")
        if found.get("netname", "").upper() in self._exclude:
            self.counts.excluded += 1
            return
        rows = self._rows[obj.cls]
        rows.first.append(first)
        rows.last.append(last)
        rows.bits.append(bits)
        rows.abuse.append(self._id(found.get("abuse-c")))
        rows.org.append(self._id(found.get("org")))
        rows.line.append(obj.line)
        rows.file.append(len(self._files) - 1)

    def _inetnum(self, obj: RpslObject) -> str | None:
        key = obj.key
        if match := _RANGE.fullmatch(key):
            self._resource(obj, match[1], match[2], -1)
        elif match := _PREFIX.fullmatch(key):
            self._resource(obj, match[1], None, int(match[2]))
        else:
            return f"inetnum {key!r} is not 'first - last' or a prefix"
        return None

    def _inet6num(self, obj: RpslObject) -> str | None:
        key = obj.key
        if (match := _PREFIX.fullmatch(key)) is None:
            return f"inet6num {key!r} is not a prefix"
        self._resource(obj, match[1], None, int(match[2]))
        return None

    def _aut_num(self, obj: RpslObject) -> str | None:
        self._resource(obj, obj.key, None, -1)
        return None

    def _role(self, obj: RpslObject) -> str | None:
        found = obj.values("nic-hdl", "abuse-mailbox")
        if "nic-hdl" not in found:
            return "role without nic-hdl"
        mailbox = found.get("abuse-mailbox")
        if mailbox is not None:
            try:
                self._mailbox[self._id(found["nic-hdl"])] = mailbox_list(mailbox)
            except ValueError as exc:
                return f"abuse-mailbox {exc}"
        return None

    def _organisation(self, obj: RpslObject) -> str | None:
        found = obj.values("organisation", "org-name", "abuse-c")
        if "organisation" not in found:
            return "organisation without a handle"
        org = self._id(found["organisation"])
        if "org-name" in found:
            self._org_name[org] = found["org-name"]
        if "abuse-c" in found:
            self._org_abuse[org] = self._id(found["abuse-c"])
        return None

    @property
    def problems(self) -> list[Problem]:
        """Objects not read, with file and line (keys that do not parse: after `records`)."""
        return self._read_problems + self._key_problems

    def records(self) -> pa.Table:
        """Contact records (RECORD_SCHEMA) of every resource that has an abuse contact."""
        self._key_problems = []
        self.counts.with_contact.clear()
        self.counts.without_contact = self.counts.unresolved = 0
        n = len(self._handles)
        handles = pa.array(list(self._handles), pa.string())
        mailbox = pa.array([self._mailbox.get(i) for i in range(n)], pa.string())
        org_name = pa.array([self._org_name.get(i) for i in range(n)], pa.string())
        org_abuse = np.full(n, -1, dtype=np.int64)
        org_abuse[list(self._org_abuse)] = list(self._org_abuse.values())
        parts = [RECORD_SCHEMA.empty_table()]
        for cls, rows in self._rows.items():
            keys, valid = self._keys(cls, rows)
            found = resolve(rows.numpy("abuse"), rows.numpy("org"), mailbox, org_abuse)
            kept = valid & (found.contact >= 0)
            self.counts.with_contact[cls] += int(kept.sum())
            self.counts.unresolved += int((valid & found.unresolved).sum())
            without = valid & (found.contact < 0) & ~found.unresolved
            self.counts.without_contact += int(without.sum())
            parts.append(to_records(cls, keys, kept, found, handles, mailbox, org_name))
        return pa.concat_tables(parts)

    def _keys(self, cls: str, rows: _Resources) -> tuple[pa.Table, npt.NDArray[np.bool_]]:
        """The parsed keys of one class (columns of RECORD_SCHEMA + `key`, the key as text),
        and which rows parsed; problems are kept with their file and line."""
        first, last, bits = rows.first.array(), rows.last.array(), rows.numpy("bits")
        errors: dict[int, str] = {}
        if cls == "aut-num":
            number = pc.extract_regex(pc.utf8_upper(first), r"^AS(?P<n>[0-9]{1,10})$")
            asn = pc.cast(pc.struct_field(number, "n"), pa.int64())
            valid = np.asarray(pc.fill_null(pc.less_equal(asn, 2**32 - 1), False), dtype=bool)
            errors = dict.fromkeys(np.flatnonzero(~valid).tolist(), "not an AS number")
            key = pc.binary_join_element_wise("AS", pc.cast(asn, pa.string()), "")
            keys = pa.table({"asn": asn, "key": key})
        else:
            wanted = 4 if cls == "inetnum" else 6
            tables, oks = [], []
            for at in range(0, len(first) or 1, _KEY_CHUNK):  # bounds the parsing's memory
                n = min(_KEY_CHUNK, len(first) - at)
                text = first.slice(at, n)
                ranges = text_ranges(text, last.slice(at, n), bits[at : at + n])
                oks.append(ranges.version == wanted)
                for i in np.flatnonzero(~oks[-1]).tolist():
                    errors[at + i] = ranges.error[i] or f"not IPv{wanted}"
                part = range_keys(cls, text, bits[at : at + n], ranges)
                tables.append(part)
            keys, valid = pa.concat_tables(tables), np.concatenate(oks)
        for i, error in errors.items():
            key = first[i].as_py()
            key += f" - {last[i]}" if last[i].is_valid else f"/{bits[i]}" if bits[i] >= 0 else ""
            file, line = self._files[rows.file[i]], rows.line[i]
            self._key_problems.append(Problem(file, line, f"{cls} {key}: {error}", f"{cls}: {key}"))
        return keys, valid
