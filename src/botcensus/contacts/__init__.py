"""Abuse contacts: who to tell about an address. Imports RIPE split files and CSV tables into
DIR/contacts/ and looks up whole columns: the most specific prefix, else the ASN, else the
country's national CERT (a small bundled table, or your own).

    import_ripe(data_dir, [Path("ripe.db.inetnum.gz"), Path("ripe.db.role.gz"), ...])
    import_csv(data_dir, Path("isp-contacts.csv"), source="isp-list")
    contacts = load_contacts(data_dir)
    found = lookup_contacts(contacts, ips, asns, ccs)   # LOOKUP_SCHEMA columns, row for row
    sightings = enrich_contacts(sightings, contacts)    # a step: table -> table

See docs/contacts.md.
"""

from botcensus.contacts.api import (
    NATIONAL_CERTS,
    ImportReport,
    describe,
    enrich_contacts,
    import_csv,
    import_ripe,
    load_contacts,
    lookup_contacts,
    national_certs_path,
)
from botcensus.contacts.ripe_source import EXCLUDED_NETNAMES
from botcensus.contacts.store import Problem
from botcensus.contacts.table import LOOKUP_SCHEMA, ContactTable

__all__ = [
    "EXCLUDED_NETNAMES",
    "LOOKUP_SCHEMA",
    "NATIONAL_CERTS",
    "ContactTable",
    "ImportReport",
    "Problem",
    "describe",
    "enrich_contacts",
    "import_csv",
    "import_ripe",
    "load_contacts",
    "lookup_contacts",
    "national_certs_path",
]
