"""Who is responsible for each host row: the contacts stage's most specific abuse contact
(prefix, then ASN, then country), and the national CERT of the host's country."""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from botcensus.contacts import ContactTable, lookup_contacts

CONTACT_COLUMNS: Final = (
    "contact_email", "contact_org", "contact_level", "contact_record", "contact_source",
    "cert_email", "cert_org", "cert_record", "cert_source",
)  # fmt: skip
"""What resolve() adds: the most specific contact, and the country's national CERT."""


def resolve(hosts: pa.Table, contacts: ContactTable) -> pa.Table:
    """Host rows with CONTACT_COLUMNS: `contact_*` from the address, then its ASN, then its
    country; `cert_*` from the country alone (the record a national CERT's constituency
    comes from). Columns are null where no record answers."""
    n = hosts.num_rows
    found = lookup_contacts(contacts, hosts["source_ip"], hosts["source_asn"], hosts["source_cc"])
    cert = lookup_contacts(contacts, pa.nulls(n, pa.string()), None, hosts["source_cc"])
    columns = {
        "contact_email": found["abuse_email"],
        "contact_org": found["abuse_org"],
        "contact_level": found["contact_level"],
        "contact_record": found["contact_record"],
        "contact_source": found["contact_source"],
        "cert_email": cert["abuse_email"],
        "cert_org": cert["abuse_org"],
        "cert_record": cert["contact_record"],
        "cert_source": cert["contact_source"],
    }
    for name in CONTACT_COLUMNS:
        hosts = hosts.append_column(name, columns[name].cast(pa.string()))
    return hosts
