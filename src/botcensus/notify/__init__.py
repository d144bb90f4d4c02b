"""Tell network owners about their infected hosts: who gets what, in which format and how
often (rules as data), a journal that loses nothing and sends nothing twice, delivery through
the operator's SMTP relay, an outbox per recipient, and the hold-out the effect is measured
against.

    rules = load_rules(Path("examples/notify-daily.toml"))
    planned = make_plan(data_dir, rules, date(2011, 3, 18))          # read only
    result = send(data_dir, rules, date(2011, 3, 18), relay_address(rules, None))
    messages_for(data_dir, ["192.0.2.0/24"], asns=[64496])           # what an owner was told
    notification_groups(data_dir)                                    # for botcensus cleanup

See docs/notify.md.
"""

from botcensus.notify.deliver import Delivery
from botcensus.notify.effect import notification_groups
from botcensus.notify.journal import Entry, Journal, journal_path, messages_for
from botcensus.notify.plan import Held, Message, Plan, plan_messages
from botcensus.notify.rules import Rules, RulesError, load_rules, parse_rules
from botcensus.notify.run import (
    NotifyError,
    PeriodNotOverError,
    SendResult,
    make_plan,
    relay_address,
    send,
)
from botcensus.notify.sign import SigningError

__all__ = [
    "Delivery",
    "Entry",
    "Held",
    "Journal",
    "Message",
    "NotifyError",
    "PeriodNotOverError",
    "Plan",
    "Rules",
    "RulesError",
    "SendResult",
    "SigningError",
    "journal_path",
    "load_rules",
    "make_plan",
    "messages_for",
    "notification_groups",
    "parse_rules",
    "plan_messages",
    "relay_address",
    "send",
]
