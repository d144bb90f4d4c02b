"""Named presets of three families: A (steady, one addressing policy per ASN), B (harsh) and
C (businesses behind NAT; slow timers), each written without the others' assumptions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from .params import (
    AsnSpec,
    CleanupSpec,
    CountrySpec,
    LineSpec,
    NetworkSpec,
    NotifySpec,
    Params,
    ReportSpec,
    TimerSpec,
    UsageSpec,
)

# (cc, weight, UTC offset, [(asn, share, line type, policy), ...])
_A_GLOBAL = [
    ("IN", 0.20, 5.5, [(9829, 0.45, "dsl", "session"), (24560, 0.35, "dsl", "periodic"),
                       (55836, 0.20, "mobile", "cgn")]),
    ("US", 0.14, -5, [(7922, 0.45, "cable", "static"),
                      (7018, 0.35, {"dsl": 0.85, "enterprise": 0.15}, "static"),
                      (22773, 0.20, "cable", "static")]),
    ("BR", 0.12, -3, [(28573, 0.5, "cable", "static"), (18881, 0.3, "dsl", "periodic"),
                      (8167, 0.2, "dsl", "session")]),
    ("VN", 0.10, 7, [(45899, 0.5, "dsl", "periodic"), (7552, 0.3, "fibre", "cgn"),
                     (18403, 0.2, "fibre", "static")]),
    ("RU", 0.09, 3, [(12389, 0.6, "dsl", "session"), (8402, 0.4, "fibre", "static")]),
    ("TR", 0.08, 2, [(9121, 0.8, "dsl", "periodic"), (16135, 0.2, "mobile", "cgn")]),
    ("DE", 0.08, 1, [(3320, 0.6, {"dsl": 0.9, "enterprise": 0.1}, "periodic"),
                     (3209, 0.4, "cable", "static")]),
    ("IT", 0.06, 1, [(3269, 0.8, "dsl", "session"), (30722, 0.2, "dsl", "periodic")]),
    ("FR", 0.06, 1, [(3215, 0.6, "dsl", "periodic"), (12322, 0.4, "fibre", "static")]),
    ("ID", 0.07, 7, [(7713, 0.7, "dsl", "cgn"), (23693, 0.3, "mobile", "cgn")]),
]  # fmt: skip
_A_CGN = [
    ("IN", 0.30, 5.5, [(9829, 0.4, {"dsl": 0.85, "enterprise": 0.15}, "session"),
                       (24560, 0.3, "dsl", "cgn"), (55836, 0.3, "mobile", "cgn")]),
    ("ID", 0.20, 7, [(7713, 0.6, "dsl", "cgn"), (23693, 0.4, "mobile", "cgn")]),
    ("VN", 0.20, 7, [(45899, 0.5, {"dsl": 0.85, "enterprise": 0.15}, "periodic"),
                     (7552, 0.3, "fibre", "cgn"), (18403, 0.2, "fibre", "session")]),
    ("TH", 0.15, 7, [(17552, 0.5, "dsl", "session"), (23969, 0.3, "dsl", "periodic"),
                     (45758, 0.2, "fibre", "cgn")]),
    ("EG", 0.15, 2, [(8452, 0.6, "dsl", "session"), (36992, 0.4, "dsl", "cgn")]),
]  # fmt: skip
_A_STABLE = [
    ("US", 0.35, -5, [(7922, 0.4, "cable", "static"), (7018, 0.3, "dsl", "static"),
                      (701, 0.15, "fibre", "static"), (20115, 0.15, "cable", "static")]),
    ("GB", 0.15, 0, [(2856, 0.6, "dsl", "static"), (5089, 0.4, "cable", "static")]),
    ("FR", 0.15, 1, [(12322, 0.5, "fibre", "static"), (3215, 0.5, "dsl", "periodic")]),
    ("DE", 0.20, 1, [(3320, 0.6, "dsl", "periodic"), (3209, 0.25, "cable", "static"),
                     (8881, 0.15, "dsl", "session")]),
    ("JP", 0.15, 9, [(4713, 0.5, "fibre", "static"), (2516, 0.5, "fibre", "static")]),
]  # fmt: skip

# Family B: an ASN is a kind of operator, whose households sit on several line types.
_KINDS: Mapping[str, Mapping[str, float]] = {
    "inc": {"dsl": 0.55, "fibre": 0.22, "mobile": 0.12, "enterprise": 0.11},
    "cab": {"cable": 0.92, "enterprise": 0.08},
    "mob": {"mobile": 0.95, "enterprise": 0.05},
    "alt": {"fibre": 0.62, "dsl": 0.28, "enterprise": 0.1},
    "inc-mob": {"dsl": 0.32, "fibre": 0.12, "mobile": 0.48, "enterprise": 0.08},
}
# (cc, weight, UTC offset, clean-up factor, [(asn, share, kind, IPv6 share), ...])
_B_GLOBAL = [
    ("IN", 0.18, 5.5, 0.7, [(9829, 0.35, "inc", 0.1), (24560, 0.25, "alt", 0.4),
                            (45609, 0.15, "mob", 0.6), (55836, 0.25, "mob", 0.9)]),
    ("US", 0.14, -5, 1.2, [(7922, 0.35, "cab", 0.7), (7018, 0.3, "inc", 0.5),
                           (21928, 0.15, "mob", 0.9), (20115, 0.2, "cab", 0.5)]),
    ("BR", 0.12, -3, 0.9, [(28573, 0.45, "cab", 0.4), (18881, 0.35, "inc", 0.3),
                           (26599, 0.2, "mob", 0.2)]),
    ("VN", 0.10, 7, 0.7, [(45899, 0.5, "inc", 0.1), (7552, 0.3, "alt", 0.0),
                          (18403, 0.2, "alt", 0.0)]),
    ("RU", 0.08, 3, 0.8, [(12389, 0.6, "inc", 0.0), (8402, 0.4, "alt", 0.0)]),
    ("TR", 0.08, 3, 0.9, [(9121, 0.75, "inc", 0.0), (16135, 0.25, "mob", 0.0)]),
    ("DE", 0.10, 1, 1.4, [(3320, 0.55, "inc", 0.6), (3209, 0.3, "cab", 0.3),
                          (6805, 0.15, "mob", 0.3)]),
    ("IT", 0.06, 1, 1.0, [(3269, 0.8, "inc", 0.0), (30722, 0.2, "mob", 0.0)]),
    ("FR", 0.06, 1, 1.2, [(3215, 0.55, "inc", 0.5), (12322, 0.45, "alt", 0.8)]),
    ("ID", 0.08, 7, 0.7, [(7713, 0.65, "inc", 0.0), (23693, 0.35, "mob", 0.0)]),
]  # fmt: skip
_B_MOBILE = [
    ("IN", 0.30, 5.5, 0.7, [(55836, 0.45, "mob", 0.9), (45609, 0.25, "mob", 0.6),
                            (9829, 0.3, "inc-mob", 0.1)]),
    ("ID", 0.20, 7, 0.7, [(23693, 0.6, "mob", 0.0), (7713, 0.4, "inc-mob", 0.0)]),
    ("US", 0.20, -5, 1.2, [(21928, 0.5, "mob", 0.9), (7018, 0.5, "inc-mob", 0.5)]),
    ("TR", 0.15, 3, 0.9, [(16135, 0.6, "mob", 0.0), (9121, 0.4, "inc-mob", 0.0)]),
    ("DE", 0.15, 1, 1.4, [(6805, 0.5, "mob", 0.3), (3320, 0.5, "inc-mob", 0.6)]),
]  # fmt: skip

_SITE = tuple(round(0.6**k * 0.4, 4) for k in range(12))
"""Machines at an enterprise site (or internet cafe): geometric, mean about 2.5."""
_A_HOME = LineSpec({"static": 1.0}, (0.72, 0.2, 0.06, 0.02), {"always_on": 0.15, "home": 0.85})
_A_LINES = {
    **dict.fromkeys(("dsl", "cable", "fibre", "mobile"), _A_HOME),
    "enterprise": LineSpec({"static": 1.0}, _SITE, {"office": 0.7, "always_on": 0.3}, 1.5),
}
_HOME_B = {"always_on": 0.12, "home": 0.55, "laptop": 0.2, "sporadic": 0.13}
_HH_B = (0.55, 0.27, 0.12, 0.06)
_B_LINES = {
    "dsl": LineSpec(
        {"periodic": 0.45, "session": 0.2, "sticky": 0.2, "cgn": 0.1, "static": 0.05},
        _HH_B,
        _HOME_B,
    ),
    "cable": LineSpec({"sticky": 0.75, "static": 0.25}, _HH_B, _HOME_B),
    "fibre": LineSpec(
        {"static": 0.35, "sticky": 0.35, "periodic": 0.1, "cgn": 0.2}, _HH_B, _HOME_B
    ),
    "mobile": LineSpec(
        {"cgn": 1.0}, (0.7, 0.2, 0.07, 0.03), {"laptop": 0.6, "home": 0.3, "sporadic": 0.1}
    ),
    "enterprise": LineSpec(
        {"static": 0.85, "sticky": 0.15}, _SITE, {"office": 0.8, "always_on": 0.2}, 1.8
    ),
}

_A_NETWORKS = NetworkSpec(pool_log2=(15.0, 17.0), cgn_pool=(1024, 4096))
_B_NETWORKS = NetworkSpec(
    periodic_hours={"24": 0.8, "12": 0.05, "168": 0.15},
    periodic_night_share=0.4,
    reboot_days=(5.0, 30.0),
    sticky_days=(7.0, 90.0),
    static_renumber_days=(30.0, 180.0),
    session_gap_minutes=(5.0, 60.0),
    pool_log2=(13.0, 18.0),
    cgn_pool=(256, 4096),
    cgn_remap_per_hour=(0.0, 0.3),
    cgn_arbitrary_share=0.15,
    egress=(1, 4),
)
_B_TIMERS = TimerSpec(
    kinds={"timer": 0.75, "poisson": 0.18, "boot": 0.07},
    minutes=(5.0, 60.0),
    jitter=(0.02, 0.3),
    jitter_normal=True,
    drift_per_day=0.08,
    poisson_per_hour=(0.3, 6.0),
    retry_share=0.25,
    retry_mean=1.5,
    loss=0.02,
)
_B_USAGE = UsageSpec(sessions_per_day=(1.0, 0.8), max_sessions=4, session_hours=2.0, day_use=0.75)
_B_CLEANUP = CleanupSpec(
    rate_per_day=0.02,
    frailty_shape=0.8,
    household_shape=3.0,
    new_infection_share=0.03,
    reinfection_prob=0.15,
    reinfection_days=10.0,
    max_episodes=3,
)


def _family_a(name: str, table: list, report: ReportSpec) -> Params:  # type: ignore[type-arg]
    countries = tuple(
        CountrySpec(
            cc,
            w,
            off,
            tuple(
                AsnSpec(a, s, {line: 1.0} if isinstance(line, str) else line, pol)
                for a, s, line, pol in asns
            ),
        )
        for cc, w, off, asns in table
    )
    return Params(
        name=name,
        family="A",
        start="2011-03-17",
        days=56,
        n_machines=8000,
        countries=countries,
        lines=_A_LINES,
        networks=_A_NETWORKS,
        timers=TimerSpec(minutes=(10.0, 30.0), jitter=(0.1, 0.1)),
        usage=UsageSpec(session_hours=5.0),
        cleanup=CleanupSpec(),
        report=report,
    )


def _mixed_countries(
    table: list,  # type: ignore[type-arg]
    kinds: Mapping[str, Mapping[str, float]],
) -> tuple[CountrySpec, ...]:
    """Countries whose ASNs mix line types by operator kind, a policy drawn per network
    (families B and C): (cc, weight, offset, clean-up factor, [(asn, share, kind, IPv6)])."""
    return tuple(
        CountrySpec(cc, w, off, tuple(AsnSpec(a, s, kinds[k], None, v6) for a, s, k, v6 in asns), f)
        for cc, w, off, f, asns in table
    )


def _family_b(name: str, table: list) -> Params:  # type: ignore[type-arg]
    countries = _mixed_countries(table, _KINDS)
    return Params(
        name=name,
        family="B",
        start="2024-03-06",
        days=56,
        n_machines=8000,
        countries=countries,
        lines=_B_LINES,
        networks=_B_NETWORKS,
        timers=_B_TIMERS,
        usage=_B_USAGE,
        cleanup=_B_CLEANUP,
        notify=NotifySpec(enabled=True, day=14, asn_share=0.5, multiplier=1.6),
        outages=((30 * 24 + 8.0, 6.0),),
        report=ReportSpec(aggregate="checkin", ids_share=0.3),
    )


def _b_mobile() -> Params:
    """Mostly mobile and CGN lines; a third of CGNs pick an address per connection."""
    networks = replace(_B_NETWORKS, cgn_arbitrary_share=0.35, cgn_remap_per_hour=(0.1, 1.0))
    report = ReportSpec(aggregate="hour", ids_share=0.5)
    return replace(_family_b("b-mobile", _B_MOBILE), networks=networks, report=report)


def _b_sparse() -> Params:
    """Fewer, shorter sessions; most bots without a timer; daily HTTP reports."""
    kinds = {"timer": 0.4, "poisson": 0.4, "boot": 0.2}
    usage = UsageSpec(sessions_per_day=(1.0, 0.5), max_sessions=3, session_hours=1.5, day_use=0.5)
    report = ReportSpec(aggregate="day", report_type="event4_sinkhole_http", ids_share=0.3)
    base = _family_b("b-sparse", _B_GLOBAL)
    return replace(base, timers=replace(_B_TIMERS, kinds=kinds), usage=usage, report=report)


# Family C (written after the eleventh held-out set, from first principles; no estimator
# constant was changed with or after it): populations neither A nor B describe.
# c-office: the businesses of a few countries, as a national CERT sees them: most infected
# machines sit at enterprise sites behind static NAT addresses (sites larger than A's or B's,
# geometric with mean 5), used in office hours on weekdays, with bots on slower timers.
_C_OFFICE = [
    ("DE", 0.25, 1, 1.0, [(3320, 0.4, "biz", 0.2), (8881, 0.3, "biz", 0.0),
                          (6805, 0.3, "mix", 0.3)]),
    ("NL", 0.15, 1, 1.2, [(1136, 0.5, "biz", 0.3), (33915, 0.5, "mix", 0.0)]),
    ("PL", 0.20, 1, 0.8, [(5617, 0.6, "biz", 0.0), (12741, 0.4, "mix", 0.0)]),
    ("GB", 0.20, 0, 1.0, [(2856, 0.5, "biz", 0.1), (5089, 0.5, "mix", 0.0)]),
    ("JP", 0.20, 9, 1.1, [(4713, 0.6, "biz", 0.0), (2516, 0.4, "mix", 0.0)]),
]  # fmt: skip
_C_KINDS: Mapping[str, Mapping[str, float]] = {
    "biz": {"enterprise": 0.85, "fibre": 0.15},
    "mix": {"enterprise": 0.4, "dsl": 0.4, "cable": 0.2},
}
_C_SITE = tuple(round(0.2 * 0.8**k, 4) for k in range(24))
"""Machines at a site: geometric, mean about 5 (up to 24)."""
_C_HOME = LineSpec(
    {"periodic": 0.5, "sticky": 0.3, "static": 0.2}, (0.6, 0.25, 0.1, 0.05),
    {"home": 0.7, "always_on": 0.3},
)  # fmt: skip
_C_LINES = {
    **dict.fromkeys(("dsl", "cable", "fibre", "mobile"), _C_HOME),
    "enterprise": LineSpec({"static": 0.8, "sticky": 0.2}, _C_SITE,
                           {"office": 0.85, "always_on": 0.15}, 0.8),
}  # fmt: skip
# c-slow: home networks whose bots check in every one to six hours (or at random, about once
# an hour), several sessions a day, reports one row per address and hour.
_C_SLOW_TIMERS = TimerSpec(
    kinds={"timer": 0.7, "poisson": 0.3},
    minutes=(60.0, 360.0),
    jitter=(0.05, 0.25),
    jitter_normal=True,
    drift_per_day=0.03,
    poisson_per_hour=(0.3, 1.5),
    loss=0.01,
)


def _family_c(name: str, table: list, kinds: Mapping[str, Mapping[str, float]]) -> Params:  # type: ignore[type-arg]
    countries = _mixed_countries(table, kinds)
    return Params(
        name=name,
        family="C",
        start="2019-10-02",
        days=56,
        n_machines=8000,
        countries=countries,
        lines=_C_LINES,
        networks=NetworkSpec(
            periodic_hours={"24": 0.6, "168": 0.4},
            reboot_days=(10.0, 40.0),
            sticky_days=(20.0, 120.0),
            static_renumber_days=(60.0, 365.0),
            pool_log2=(12.0, 16.0),
            egress=(1, 2),
        ),
        timers=TimerSpec(
            kinds={"timer": 0.9, "poisson": 0.1},
            minutes=(20.0, 120.0),
            jitter=(0.05, 0.2),
            jitter_normal=True,
            poisson_per_hour=(0.5, 2.0),
            loss=0.01,
        ),
        usage=UsageSpec(sessions_per_day=(1.0, 0.3), max_sessions=2, session_hours=3.0),
        cleanup=CleanupSpec(
            rate_per_day=0.012,
            frailty_shape=1.0,
            household_shape=2.0,
            new_infection_share=0.02,
        ),
        notify=NotifySpec(enabled=True, day=21, asn_share=0.5, multiplier=2.0),
        report=ReportSpec(aggregate="hour", ids_share=0.3),
    )


def _c_slow() -> Params:
    kinds = {"home": {"dsl": 0.5, "cable": 0.3, "fibre": 0.2}}
    table = [
        ("BR", 0.3, -3, 0.9, [(28573, 0.5, "home", 0.0), (18881, 0.5, "home", 0.2)]),
        ("MX", 0.2, -6, 0.9, [(8151, 0.7, "home", 0.1), (13999, 0.3, "home", 0.0)]),
        ("ES", 0.2, 1, 1.1, [(3352, 0.6, "home", 0.3), (12479, 0.4, "home", 0.0)]),
        ("KR", 0.3, 9, 1.3, [(4766, 0.6, "home", 0.5), (9318, 0.4, "home", 0.2)]),
    ]
    base = _family_c("c-slow", table, kinds)
    usage = UsageSpec(sessions_per_day=(1.0, 1.0), max_sessions=4, session_hours=2.5,
                      day_use=0.7)  # fmt: skip
    return replace(base, timers=_C_SLOW_TIMERS, usage=usage)


PRESETS: Mapping[str, Callable[[], Params]] = {
    "a-global": lambda: _family_a("a-global", _A_GLOBAL, ReportSpec(aggregate="hour")),
    "a-cgn": lambda: _family_a("a-cgn", _A_CGN, ReportSpec(aggregate="day")),
    "a-stable": lambda: _family_a("a-stable", _A_STABLE, ReportSpec(aggregate="checkin")),
    "b-harsh": lambda: _family_b("b-harsh", _B_GLOBAL),
    "b-mobile": _b_mobile,
    "b-sparse": _b_sparse,
    "c-office": lambda: _family_c("c-office", _C_OFFICE, _C_KINDS),
    "c-slow": _c_slow,
}
"""Preset name -> a function building its Params (the family is the name's first letter)."""


def preset(name: str) -> Params:
    """The named preset; KeyError lists the known names."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]()
