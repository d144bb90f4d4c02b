"""Which addresses can be followed to their clean-up: those in networks where an address is
one machine.

Survival needs identities that last as long as the infection does. A bot id does. An address
does only where it is not renumbered: on a line renumbered daily or per session, an address
goes silent for good every day while its machine stays infected, and no silence rule can tell
that from a clean-up (renumbered addresses never come back, so they leave no return gaps to
learn from). Addresses are therefore followed only in the networks the host estimator takes
as stable (hosts.reference: new sessions return on an address seen the week before, and new
addresses live beyond a week, nearly as often as on the country's best networks; shared pools
never). Everything else is left out of the survival curves and the notification model, and
the result says how many identities that was.

Even a stable network renumbers its lines now and then (every month or few), and a
renumbered address falls silent like a cleaned one. The networks' renumbering rates go with
them, and the Kaplan–Meier curves take those exits out as a competing risk
(survival.kaplan_meier's `competing`).
"""

from __future__ import annotations

from datetime import date

import duckdb

from botcensus.measure.census import CensusQuery
from botcensus.measure.hosts import address_model
from botcensus.measure.survival.silence import claimed


def _stable(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> dict[tuple[str, int], float]:
    model = address_model(con, query, relation)
    if model is None:
        return {}
    keep = (model.ref.stable & ~model.ref.shared).tolist()
    rates = model.ref.renumbering.tolist()
    return {g: r for g, ok, r in zip(model.groups, keep, rates, strict=True) if ok}


def stable_networks(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    first: date,
    last: date,
    family: str | None = None,
) -> dict[tuple[str, int], float]:
    """(country, ASN) pairs whose addresses can be followed (module docstring), over the
    claimed sightings without bot id in first..last; with the rate per day at which the
    network's lines are renumbered (hosts.reference: handovers of machines online all day,
    per day of exposure, pooled towards all stable networks'). Each family is judged on its
    own (check-in timers differ); a network stable for any family is followed for all of
    them, at the highest of its families' rates (run `cleanup --family` to judge one)."""
    where, params = claimed(first, last, family)
    where += " AND bot_id IS NULL"
    sql = f"SELECT DISTINCT malware_family FROM {relation} WHERE {where}"  # noqa: S608 (relation is ours; values are parameters)
    families = sorted(str(r[0]) for r in con.execute(sql, params).fetchall())
    out: dict[tuple[str, int], float] = {}
    for name in families:
        query = CensusQuery(window="week", family=name, date_from=first, date_to=last)
        for network, rate in _stable(con, query, relation).items():
            out[network] = max(rate, out.get(network, 0.0))
    return out
