"""Rebuild the bundled database: `python -m botcensus.enrich.build [--out PATH] [sources]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from botcensus.enrich.bundle import (
    DEFAULT_GEOIP,
    DEFAULT_GEOIP6,
    DEFAULT_LIBLOC_DB,
    build_bundled,
)
from botcensus.enrich.geotable import bundled_path


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild from the Debian packages' files (tor-geoipdb, libloc-database) by default."""
    parser = argparse.ArgumentParser(
        prog="python -m botcensus.enrich.build",
        description=__doc__,
        epilog=(
            "The defaults need the Debian packages tor-geoipdb, libloc-database and location. "
            "The output is CC BY-SA 4.0 data: update data/ATTRIBUTION.md (dates, versions) "
            "when you commit a rebuilt file."
        ),
    )
    parser.add_argument(
        "--out", type=Path, default=bundled_path(), help="default: the bundled file in the tree"
    )
    parser.add_argument(
        "--geoip", type=Path, default=DEFAULT_GEOIP, help="Tor IPv4 geoip file (tor-geoipdb)"
    )
    parser.add_argument(
        "--geoip6", type=Path, default=DEFAULT_GEOIP6, help="Tor IPv6 geoip6 file (tor-geoipdb)"
    )
    parser.add_argument(
        "--libloc-db",
        type=Path,
        default=DEFAULT_LIBLOC_DB,
        help="libloc location.db (read with the `location` tool) or `location dump` text",
    )
    args = parser.parse_args(argv)
    report = build_bundled(args.out, geoip=args.geoip, geoip6=args.geoip6, libloc_db=args.libloc_db)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
