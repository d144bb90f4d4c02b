"""Host estimates: infected machines active per census window and group, with an interval
(unit `hosts`), and the mean distinct addresses per hour beside them.

    hosts_answer(con, query, relation)          # the rows below, and notes on their support
    estimate_hosts(con, query, relation)        # rows keyed like the census's
    with_estimates(con, rows, query, relation)  # census rows + hosts_est, hosts_lo, hosts_hi,
                                                #   hosts_support
    with_hourly(con, rows, query, relation)     # census rows + ips_hourly_avg

The modules behind it: features (address-days), daily and windows (per-group sums), nat and
handover (hidden machines, renumbering), split (renumbering without a timer), reference and
model (the stable reference and the estimate), ids, networks, thinning, activity, sprayed and
crowded (machines with bot ids), estimate (one partition), support (diagnostics) and answer
(the whole). See docs/measurement.md.
"""

from botcensus.measure.hosts.answer import (
    ESTIMATE_COLUMNS,
    HostsAnswer,
    attach_answer,
    estimate_hosts,
    hosts_answer,
    with_estimates,
)
from botcensus.measure.hosts.estimate import AddressModel, address_model
from botcensus.measure.hosts.features import Timer, checkin_timer
from botcensus.measure.hosts.hourly import hourly_ips, with_hourly

__all__ = [
    "ESTIMATE_COLUMNS",
    "AddressModel",
    "HostsAnswer",
    "Timer",
    "address_model",
    "attach_answer",
    "checkin_timer",
    "estimate_hosts",
    "hosts_answer",
    "hourly_ips",
    "with_estimates",
    "with_hourly",
]
