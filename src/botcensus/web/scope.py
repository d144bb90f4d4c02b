"""What a network owner may see: its ASNs, prefixes and countries, as one SQL condition over
sightings columns (the union of them) that every IP-level query carries, and as a check on
single addresses.

The condition is built here, from the token's stored scope only: nothing a request sends
widens it. IPv4 prefixes become integer ranges computed in SQL; IPv6 prefixes (rare) are
resolved to the matching addresses present in the relation, once per query.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import duckdb

from botcensus.ipaddr import ipv4_int_sql

CC: Final = re.compile(r"^[A-Z]{2}$")


class ScopeError(ValueError):
    """A scope value that is not an AS number, a CIDR prefix or a country code."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The networks a token covers; `everything` for the operator."""

    asns: tuple[int, ...] = ()
    prefixes: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    everything: bool = False
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), compare=False, repr=False
    )

    @classmethod
    def of(
        cls,
        asns: Sequence[int | str] = (),
        prefixes: Sequence[str] = (),
        countries: Sequence[str] = (),
    ) -> Scope:
        """A checked owner scope; raises ScopeError naming the bad value."""
        checked_asns = []
        for value in asns:
            text = str(value).upper().removeprefix("AS")
            if not text.isdigit() or not 0 < int(text) < 2**32:
                raise ScopeError(f"{value!r} is not an AS number (1 to 4294967295)")
            checked_asns.append(int(text))
        networks = []
        for value in prefixes:
            try:
                networks.append(ipaddress.ip_network(value, strict=True))
            except ValueError as exc:
                raise ScopeError(f"{value!r} is not a CIDR prefix ({exc})") from None
        checked_cc = []
        for value in countries:
            cc = value.upper()
            if not CC.match(cc):
                raise ScopeError(f"{value!r} is not a two-letter country code")
            checked_cc.append(cc)
        return cls(
            tuple(sorted(set(checked_asns))),
            tuple(sorted({str(n) for n in networks})),
            tuple(sorted(set(checked_cc))),
            False,
            tuple(sorted(set(networks), key=str)),
        )

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return self._networks or tuple(ipaddress.ip_network(p) for p in self.prefixes)

    @property
    def empty(self) -> bool:
        return not (self.everything or self.asns or self.prefixes or self.countries)

    def to_json(self) -> str:
        if self.everything:
            return json.dumps({"everything": True})
        return json.dumps(
            {
                "asns": list(self.asns),
                "prefixes": list(self.prefixes),
                "countries": list(self.countries),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Scope:
        value = json.loads(text)
        if value.get("everything"):
            return EVERYTHING
        return cls.of(value.get("asns", ()), value.get("prefixes", ()), value.get("countries", ()))

    def describe(self) -> str:
        if self.everything:
            return "every network"
        parts = [f"AS{a}" for a in self.asns] + list(self.prefixes) + list(self.countries)
        return ", ".join(parts) or "nothing"

    def contains(self, ip: str | None, asn: int | None = None, cc: str | None = None) -> bool:
        """Whether a sighting with this address, ASN and country is in scope."""
        if self.everything:
            return True
        if asn is not None and asn in self.asns:
            return True
        if cc is not None and cc.upper() in self.countries:
            return True
        if ip is None or not self.prefixes:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in n for n in self.networks if n.version == address.version)

    def condition(
        self,
        con: duckdb.DuckDBPyConnection | None = None,
        relation: str | None = None,
        *,
        ip: str = "source_ip",
        asn: str = "source_asn",
        cc: str = "source_cc",
    ) -> tuple[str, dict[str, object]]:
        """SQL over the given columns true exactly for rows in scope, with its named
        parameters ($scope_*). IPv6 prefixes need `con` and `relation` (the addresses there
        are matched in Python, once)."""
        if self.everything:
            return "true", {}
        parts: list[str] = []
        params: dict[str, object] = {}
        if self.asns:
            parts.append(f"list_contains($scope_asns, {asn})")
            params["scope_asns"] = list(self.asns)
        if self.countries:
            parts.append(f"list_contains($scope_ccs, upper({cc}))")
            params["scope_ccs"] = list(self.countries)
        v4 = [n for n in self.networks if n.version == 4]
        for i, net in enumerate(v4):
            parts.append(f"{ipv4_int_sql(ip)} BETWEEN $scope_lo{i} AND $scope_hi{i}")
            params[f"scope_lo{i}"] = int(net.network_address)
            params[f"scope_hi{i}"] = int(net.broadcast_address)
        v6 = [n for n in self.networks if n.version == 6]
        if v6:
            if con is None or relation is None:
                raise ValueError("IPv6 prefixes need the relation to match addresses in")
            found = con.sql(
                f"SELECT DISTINCT {ip} FROM {relation} WHERE contains({ip}, ':')"  # noqa: S608
            ).fetchall()
            inside = [a for (a,) in found if self.contains(a)]
            parts.append(f"list_contains($scope_v6, {ip})")
            params["scope_v6"] = inside or [""]  # typed as a text list even when empty
        return ("(" + " OR ".join(parts) + ")") if parts else "false", params


EVERYTHING: Final = Scope(everything=True)
NOTHING: Final = Scope()
