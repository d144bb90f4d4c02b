"""The demo's notification campaign: the notify stage tells the networks seen the day before
through a real SMTP server on loopback, with half of them held out at random; the simulation
then cleans the told networks faster (its truth), and the effect is measured against the
hold-out beside that truth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.contacts import import_csv
from botcensus.measure import CensusQuery, census
from botcensus.measure.cleanup import DecayFit, complete_weeks, fit_decay
from botcensus.measure.cleanup.checks import WIDEST_HR, checked_hazard, decay_hazard
from botcensus.measure.survival import HazardRatio
from botcensus.notify import Journal, SendResult, notification_groups, parse_rules, relay_address
from botcensus.notify import send as notify_send
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.simulate import Simulation

DAY: Final = dt.date(2011, 3, 30)
"""The campaign: the day every network seen the day before is told (or held out)."""
TRUE_HAZARD_RATIO: Final = 2.0
"""The simulation's truth: hosts in told networks are cleaned this many times as fast."""
RULES: Final = """
[sender]
organisation = "botcensus demo sinkhole"
email = "reports@sinkhole.example.org"
reply_to = "abuse-desk@sinkhole.example.org"

[smtp]
security = "none"      # the demo's relay is an aiosmtpd server on 127.0.0.1

[holdout]
share = 0.5            # half the networks, in every country and size stratum, hear nothing
seed = {seed}

[[rule]]               # as examples/notify-daily.toml: yesterday's hosts, Shadowserver CSV
name = "daily"
interval = "daily"
format = "shadowserver"
tlp = "amber"
"""


@dataclass(frozen=True)
class Campaign:
    """What the notify stage did on the campaign day."""

    sent: SendResult
    groups: pa.Table
    """The hold-out design as `botcensus cleanup` reads it (asn, notified, day)."""
    told: tuple[int, ...]
    """ASNs of the notified group (the simulation cleans these faster from DAY on)."""
    example: str
    """One delivered mail, as the relay received it (head of its text and attachment)."""
    delivered: int
    hosts_told: int


def contacts_for(sim: Simulation, data_dir: Path) -> None:
    """An abuse address for every network of the simulation, imported as the contacts stage
    would import an operator's table (the demo has no RIPE data)."""
    asns = sorted(set(sim.space.asn.tolist()))
    table = data_dir / "demo-contacts.csv"
    table.write_text(
        "asn,abuse_email,organisation,source\n"
        + "".join(f"{a},abuse@as{a}.example,AS{a},demo table\n" for a in asns),
        encoding="utf-8",
    )
    import_csv(data_dir, table, source="demo-contacts")


def _example(raw: bytes) -> str:
    """A mail for people: headers, the text, and the attachment's first rows decoded."""
    import base64
    import email

    message = email.message_from_bytes(raw)
    lines = [f"{k}: {v}" for k, v in message.items() if k in ("From", "To", "Subject", "Date",
                                                              "Message-ID")]  # fmt: skip
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True)
            assert isinstance(text, bytes)
            lines += ["", *text.decode().splitlines()[:40], "[...]"]
        elif part.get_filename():
            payload = base64.b64decode(part.get_payload())  # type: ignore[arg-type]
            rows = payload.decode(errors="replace").splitlines()
            lines += ["", f"Attachment {part.get_filename()} ({len(rows) - 1} rows):"]
            lines += [r[:74] + (" ..." if len(r) > 74 else "") for r in rows[:3]]
    return "\n".join(lines)


def run_campaign(data_dir: Path, sim: Simulation, *, seed: int) -> Campaign:
    """Import contacts, then `notify send` for DAY through a loopback SMTP server."""
    contacts_for(sim, data_dir)
    rules = parse_rules(RULES.format(seed=seed), Path("demo-rules.toml"))
    with LoopbackSmtp() as server:
        sent = notify_send(data_dir, rules, DAY, relay_address(rules, ("127.0.0.1", server.port)))
        received = server.received()
    groups = notification_groups(data_dir)
    if groups is None:
        raise RuntimeError("the campaign drew no hold-out groups")
    told = pc.filter(groups["asn"], groups["notified"]).to_pylist()
    with Journal(data_dir, create=False) as journal:
        hosts = sum(e.hosts for e in journal.entries("state = 'sent'"))
    return Campaign(
        sent=sent,
        groups=groups,
        told=tuple(told),
        example=_example(received[0].content) if received else "(nothing was delivered)",
        delivered=len(received),
        hosts_told=hosts,
    )


@dataclass(frozen=True)
class ArmDecay:
    """Weekly decay after the campaign in the told and held-out networks."""

    told: DecayFit | None
    held: DecayFit | None
    true_told: DecayFit | None
    true_held: DecayFit | None


def _fit(counts: list[int]) -> DecayFit | None:
    return fit_decay(list(range(len(counts))), counts) if len(counts) >= 3 else None


def arm_decay(data_dir: Path, groups: pa.Table, truth_weekly: pa.Table, last: dt.date) -> ArmDecay:
    """Decay rates of weekly unique addresses in each group's networks over the complete
    weeks after the campaign, beside the same fit to the truth's active hosts."""
    from botcensus.store import connect, sightings_view

    con = connect()
    relation = sightings_view(con, data_dir)
    first = DAY + dt.timedelta(days=(6 - DAY.weekday()) % 7)  # the Sunday a full week starts
    fits: dict[bool, DecayFit | None] = {}
    true: dict[bool, DecayFit | None] = {}
    for notified in (True, False):
        asns = pc.filter(groups["asn"], pc.equal(groups["notified"], notified))
        con.register("arm", pa.table({"asn": asns}))
        sub = f"(SELECT * FROM {relation} WHERE source_asn IN (SELECT asn FROM arm))"  # noqa: S608
        query = CensusQuery(window="week", family="rustock", date_from=first, date_to=last)
        weekly = complete_weeks(census(con, query, sub), first, last)
        fits[notified] = _fit(weekly["unique_ip"].to_pylist())
        scope = truth_weekly.filter(
            pc.and_(
                pc.and_(pc.equal(truth_weekly["scope"], "asn"), pc.equal(truth_weekly["days"], 7)),
                pc.is_in(truth_weekly["asn"], asns.cast(truth_weekly["asn"].type)),
            )
        )
        scope = scope.filter(pc.greater(scope["week_ending"], pa.scalar(first, pa.date32())))
        duck = connect()
        duck.register("t", scope)
        rows = duck.sql(
            "SELECT week_ending, sum(hosts_active) FROM t GROUP BY ALL ORDER BY 1"
        ).fetchall()
        true[notified] = _fit([int(r[1]) for r in rows])
    return ArmDecay(fits[True], fits[False], true[True], true[False])


def perfect_observer_hr(hosts: pa.Table, groups: pa.Table, end: dt.date) -> float | None:
    """The hazard ratio a perfect observer would measure: a Cox fit, told vs held out, on the
    simulation's true clean-up times of the machines still infected on DAY (first infections;
    censored at the end of `end`). It is below the simulated multiplier because machines clean
    up at different rates (the fast ones leave first). None where an arm has no clean-up."""
    day_us = (DAY - dt.date(1970, 1, 1)).days * 86_400_000_000
    end_us = (end + dt.timedelta(days=1) - dt.date(1970, 1, 1)).days * 86_400_000_000
    arms = dict(zip(groups["asn"].to_pylist(), groups["notified"].to_pylist(), strict=True))
    rows = []
    for asn, infected, cleaned in zip(
        hosts["asn"].to_pylist(),
        hosts["infected"].cast(pa.int64()).to_pylist(),
        hosts["cleaned"].cast(pa.int64()).to_pylist(),
        strict=True,
    ):
        if asn not in arms or infected >= day_us or (cleaned is not None and cleaned < day_us):
            continue
        gone = cleaned is not None and cleaned < end_us
        stop = cleaned if gone else end_us
        rows.append((max(stop - day_us, 1) / 86_400_000_000, int(gone), int(arms[asn])))
    names = ("duration", "event", "notified")
    frame = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}).to_pandas()
    if frame.empty or frame.groupby("notified")["event"].sum().min() == 0:
        return None
    if frame["notified"].nunique() < 2:
        return None
    from lifelines import CoxPHFitter  # type: ignore[import-untyped]

    fitter = CoxPHFitter().fit(frame, duration_col="duration", event_col="event")
    return float(fitter.hazard_ratios_["notified"])


def _rate(fit: DecayFit | None) -> str:
    if fit is None:
        return "—"
    return f"{fit.rate_per_week:.3f} ({fit.lower:.3f}–{fit.upper:.3f})"


def campaign_lines(campaign: Campaign) -> list[str]:
    """What the campaign did, for the terminal."""
    plan = campaign.sent.plan
    held = campaign.groups.num_rows - len(campaign.told)
    recipients = {m.address for m in plan.messages}
    holdout_hosts = sum(h.hosts for h in plan.held if h.reason.startswith("hold-out"))
    return [
        f"[bold]Notification campaign[/] (botcensus notify send) on {DAY}: "
        f"{len(plan.messages)} messages to {len(recipients)} recipients, "
        f"{campaign.delivered} accepted by the loopback SMTP server, telling them of "
        f"{campaign.hosts_told:,} infected hosts seen on {DAY - dt.timedelta(days=1)} "
        "(Shadowserver CSV attached).",
        f"  Randomised hold-out: {held} of {campaign.groups.num_rows} networks (ASNs), drawn by "
        f"country and size, were not told ({holdout_hosts:,} hosts); the simulation cleans "
        f"hosts in the {len(campaign.told)} told networks {TRUE_HAZARD_RATIO:g}× as fast.",
    ]


def _ratio(figure: tuple[float, float, float]) -> str:
    return f"{figure[0]:.2f} ({figure[1]:.2f}–{figure[2]:.2f})"


def effect_lines(
    hazard: HazardRatio | None, arms: ArmDecay, perfect: float | None = None
) -> list[str]:
    """The effect as `botcensus cleanup` measures it, beside the simulation's truth: the
    simulated multiplier and, where given, what a perfect observer's Cox fit on the true
    clean-up times reads (`perfect_observer_hr`: the figure to compare with). The Cox
    ratio follows addresses, and an address renumbered away from its machine reads as a
    clean-up: where the two arms' networks renumber unevenly, in ways their renumbering
    rates do not describe, it can point the wrong way. It is printed as the effect only
    where the ratio of the arms' weekly decay rates (which follows no one) agrees with it
    (cleanup.checks); where they disagree, the line says so and gives both."""
    cox = None if hazard is None else (hazard.hazard_ratio, hazard.lower, hazard.upper)
    decay = decay_hazard(arms.told, arms.held)
    effect = checked_hazard(cox, decay)
    by_decay = "—" if decay is None else _ratio(decay)
    true = f"true {TRUE_HAZARD_RATIO:.1f} as simulated" + (
        ""
        if perfect is None
        else f", {perfect:.2f} for a perfect observer's Cox fit on the true clean-up times"
    )
    head = "  Effect (botcensus cleanup, groups from the journal):"
    if hazard is not None and effect.support in ("estimate", "identities"):
        h = hazard
        line = (
            f"{head} hazard ratio {h.hazard_ratio:.2f} ({h.level:.0%} interval "
            f"{h.lower:.2f}–{h.upper:.2f}) over {h.identities:,} followed identities"
            + (f", ratio of the arms' weekly decay rates {by_decay}" if decay else "")
            + f"; {true}."
        )
    elif effect.support == "bounds" and effect.reason == "wide":
        line = (
            f"{head} hazard ratio not supported by these data: Cox "
            + ("not computed" if cox is None else _ratio(cox))
            + f", ratio of the arms' weekly decay rates {by_decay}; each interval spans more "
            f"than a factor of {WIDEST_HR:.0f} (too few identities or clean-ups); {true}."
        )
    elif hazard is not None and effect.support == "bounds":
        line = (
            f"{head} hazard ratio not supported by these data: Cox on {hazard.identities:,} "
            f"followed addresses {_ratio(cox or (0.0, 0.0, 0.0))}, ratio of the arms' weekly "
            f"decay rates {by_decay} (bounds {effect.lower:.2f}–{effect.upper:.2f}); {true}. "
            "Addresses renumbered away from infected machines read as clean-ups."
        )
    elif hazard is not None and decay is not None and effect.support == "decay":
        line = (
            f"{head} Cox on {hazard.identities:,} followed addresses {_ratio(cox or (0, 0, 0))} "
            f"set aside (its interval spans more than a factor of {WIDEST_HR:.0f}); ratio of "
            f"the arms' weekly decay rates {by_decay}, a constant hazard assumed; {true}."
        )
    elif decay is not None:
        line = (
            f"{head} no Cox hazard ratio (see the notes above); ratio of the arms' weekly "
            f"decay rates {by_decay}, a constant hazard assumed; {true}."
        )
    else:
        line = "  Effect: the hazard ratio could not be computed (see the notes above)."
    return [
        line,
        f"  Weekly decay after the campaign, unique addresses: told {_rate(arms.told)}, "
        f"held out {_rate(arms.held)} per week; true active hosts: told "
        f"{_rate(arms.true_told)}, held out {_rate(arms.true_held)}.",
    ]
