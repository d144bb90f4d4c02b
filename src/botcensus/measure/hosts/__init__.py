"""Host estimates: infected machines active per census window and group, with an interval
(unit `hosts`), and the mean distinct addresses per hour beside them.

    estimate_hosts(con, query, relation)        # rows keyed like the census's
    with_estimates(con, rows, query, relation)  # census rows + hosts_est, hosts_lo, hosts_hi
    with_hourly(con, rows, query, relation)     # census rows + ips_hourly_avg

The modules behind it: features (address-days), daily and windows (per-group sums), nat and
handover (hidden machines, renumbering), reference and model (the stable reference and the
estimate), ids and networks (machines with bot ids), estimate (the whole). See
docs/measurement.md.
"""

from botcensus.measure.hosts.estimate import (
    ESTIMATE_COLUMNS,
    AddressModel,
    address_model,
    estimate_hosts,
    with_estimates,
)
from botcensus.measure.hosts.features import Timer, checkin_timer
from botcensus.measure.hosts.hourly import hourly_ips, with_hourly

__all__ = [
    "ESTIMATE_COLUMNS",
    "AddressModel",
    "Timer",
    "address_model",
    "checkin_timer",
    "estimate_hosts",
    "hourly_ips",
    "with_estimates",
    "with_hourly",
]
