"""One full-scale Rustock day planned, rendered and delivered to every recipient, against the
accept rate of the SMTP sink it goes to, in the same run.

    .venv/bin/python bench/notify_bench.py [--day 2011-03-17] [--seed 1] [--data DIR] [--repeat 3]

1. Simulate the calibrated scenario (rustock-2011) at scale 1.0 for one day and write its
   enriched sightings; contacts: an abuse address for every ASN with hosts, and for the 100
   biggest ASNs three customer /24 prefixes with addresses of their own (national CERTs from
   the bundled table answer the rest).
2. Start a sink: aiosmtpd on 127.0.0.1 in a process of its own that accepts and counts.
3. `botcensus notify send --rules examples/notify-daily.toml --smtp 127.0.0.1:PORT` as a user
   runs it, in a child process: wall time and peak RSS; the journal's own timestamps split it
   into plan (to the last message recorded), build (to the last one rendered) and delivery
   (first attempt to last 250).
4. The anchor: the same mails, read from the outbox, sent to the sink as fast as smtplib on
   one connection can (no journal, no building): the sink's accept rate. Median of --repeat.
   Prints our delivery rate and end-to-end rate as ratios of it (goal >= 0.5) and the whole
   day's time (goal < 120 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
SINK = """
import sys, time
from botcensus.notify.loopback import LoopbackSmtp
server = LoopbackSmtp(keep=False).start()
print(server.port, flush=True)
for line in sys.stdin:
    print(server.count, server.bytes, flush=True)
server.stop()
"""


def make_day(data: Path, day: dt.date, seed: int) -> tuple[int, int]:
    """Write one full-scale day's enriched sightings and a contact table; (hosts, contacts)."""
    from botcensus import enrich
    from botcensus.contacts import import_csv
    from botcensus.simulate import load_scenario, simulate
    from botcensus.store import write_sightings

    geo = enrich.load_bundled()
    sim = simulate(load_scenario("rustock-2011"), address_space=enrich.ipv4_ranges(geo),
                   scale=1.0, seed=seed, start=day, end=day)  # fmt: skip
    table = enrich.enrich(pa.Table.from_batches(list(sim.sightings())), geo)
    write_sightings(table, data, "simulated")
    bots = table.filter(pc.is_valid(table["malware_family"]))
    asns = bots.group_by("source_asn").aggregate([("source_ip", "count")])
    asns = asns.filter(pc.is_valid(asns["source_asn"])).sort_by([("source_ip_count", "descending")])
    lines = ["prefix,asn,abuse_email,organisation"]
    lines += [f",{a},abuse@as{a}.example,AS{a}" for a in asns["source_asn"].to_pylist()]
    for asn in asns["source_asn"].to_pylist()[:100]:
        ips = bots.filter(pc.equal(bots["source_asn"], asn))["source_ip"].to_pylist()
        nets = sorted({ip.rsplit(".", 1)[0] for ip in ips})[:: max(1, len(ips) // 3)][:3]
        lines += [
            f"{n}.0/24,,noc@{n.replace('.', '-')}.customer.example,Customer {n}" for n in nets
        ]
    contacts = data.parent / "bench-contacts.csv"
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_csv(data, contacts, source="bench")
    return int(pc.count_distinct(bots["source_ip"]).as_py()), len(lines) - 1


def run_send(
    data: Path, rules: Path, run_date: dt.date, port: int
) -> tuple[float, float, float, str]:
    """`botcensus notify send` in a child process: (seconds, CPU seconds, peak RSS GiB, its
    output)."""
    cmd = [sys.executable, "-m", "botcensus", "notify", "send", "--data", str(data),
           "--rules", str(rules), "--date", str(run_date),
           "--smtp", f"127.0.0.1:{port}"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"notify send failed:\n{out}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024 / 1024, out


def phases(data: Path) -> dict[str, float]:
    """From the journal: when the first mail was built (the plan recorded before it), how
    long building the rest took, the delivery span."""
    db = sqlite3.connect(data / "notify" / "journal.sqlite")
    rendered = db.execute("SELECT min(rendered_at), max(rendered_at) FROM messages").fetchone()
    first = db.execute("SELECT min(at) FROM history WHERE state = 'sending'").fetchone()[0]
    last = db.execute("SELECT max(sent_at) FROM messages").fetchone()[0]
    count = db.execute("SELECT count(*) FROM messages WHERE state = 'sent'").fetchone()[0]
    size = db.execute("SELECT sum(size) FROM messages").fetchone()[0]
    t = dt.datetime.fromisoformat
    return {
        "recorded": t(rendered[0]).timestamp(),
        "built": (t(rendered[1]) - t(rendered[0])).total_seconds(),
        "delivery": (t(last) - t(first)).total_seconds(),
        "sent": count,
        "bytes": size,
    }


def blast(files: list[Path], port: int) -> float:
    """Seconds to hand every file to the sink on one connection, as fast as smtplib goes."""
    mails = [f.read_bytes() for f in files]
    start = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.localhost")
    for i, mail in enumerate(mails):
        smtp.sendmail("reports@sinkhole.example.org", [f"x{i}@sink.example"], mail)
    smtp.quit()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2011, 3, 17))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="keep the dataset here")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scratch = None
    root = args.data or Path(scratch := tempfile.mkdtemp(prefix="notify-bench-"))
    data = root / "data"
    try:
        if (data / "notify").exists():
            shutil.rmtree(data / "notify")  # a fresh journal and outbox each run
        if not data.exists():
            start = time.perf_counter()
            hosts, contacts = make_day(data, args.day, args.seed)
            print(f"dataset: {hosts:,} infected hosts on {args.day}, {contacts:,} contact "
                  f"records, in {time.perf_counter() - start:.1f} s ({data})")  # fmt: skip
        sink = subprocess.Popen([sys.executable, "-c", SINK], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert sink.stdin is not None
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        # The shipped example, with the sink as a relay on this machine (no TLS).
        example = (ROOT / "examples" / "notify-daily.toml").read_text(encoding="utf-8")
        rules = root / "notify-daily-bench.toml"
        rules.write_text(example.replace('security = "starttls"', 'security = "none"'))
        started = time.time()
        load = os.getloadavg()[0]
        seconds, cpu, rss, out = run_send(data, rules, args.day + dt.timedelta(days=1), port)
        print(out.strip())
        p = phases(data)
        outbox = sorted((data / "notify" / "outbox").glob("*/*.eml"))
        anchors = [blast(outbox, port) for _ in range(args.repeat)]
        sink.stdin.write("count\n")
        sink.stdin.flush()
        accepted, _ = map(int, sink.stdout.readline().split())
        sink.stdin.close()
        sink.wait(30)
        n = int(p["sent"])
        sink_rate = len(outbox) / statistics.median(anchors)
        ours = n / p["delivery"]
        whole = n / seconds
        print(f"messages {n:,} ({p['bytes'] / 1e6:.1f} MB), sink accepted {accepted:,} in all")
        print(f"load average before the run: {load:.1f} (2 cores; other load on the machine)")
        print(f"whole day (notify send, one process): {seconds:.1f} s ({cpu:.1f} s CPU), "
              f"peak RSS {rss:.2f} GiB; "
              f"plan {p['recorded'] - started:.1f} s (start-up, roll-up check, plan, journal, "
              f"first mail), "
              f"build {p['built']:.1f} s, delivery {p['delivery']:.1f} s")  # fmt: skip
        print(
            f"sink accept rate (same mails, bare smtplib, median of {args.repeat}): "
            f"{sink_rate:,.0f} messages/s  [{', '.join(f'{a:.2f} s' for a in anchors)}]"
        )
        print(
            f"delivery {ours:,.0f} messages/s = {ours / sink_rate:.2f} of the sink's rate "
            f"(goal >= 0.5); end to end {whole:,.1f} messages/s = {whole / sink_rate:.2f}"
        )
        print(f"whole day {seconds:.1f} s (goal < 120 s)")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
