#!/usr/bin/env python3
"""Idle cost: what an installation that is synced and unchanged costs while nothing happens, over
--seconds (default 60): the background workers' CPU time (launcher, queue worker: utime+stime from
/proc/<pid>/stat, and the exact time on CPU from /proc/<pid>/schedstat), how often they wake up
(voluntary context switches: one per sleep), the transactions they run, the Postgres cluster's CPU
as a whole, and the requests to Plane (simulator stats).

Transactions are counted two ways. pg_stat_database xact_commit deltas  --
but a process reports its pending statistics only when it calls pgstat_report_stat(), which the
extension's long-lived workers never do, so their transactions reach pg_stat_database only when they
exit; the script shows this. And exactly, from the server log: the cluster runs with
log_min_messages = debug5, which logs every transaction's CommitTransaction with the process's pid
and a timestamp; the timestamps also show when each worker woke up.

Phases, each --seconds long, after 3 s of settling: (0) for reference, Postgres without the library;
(A) the baseline: the library preloaded and the extension created, no installation; (B) one
installation synced from the simulator (1 project x 50 work items), default settings
(plane.launcher_naptime 10 s, plane.poll_interval 5 min). Autovacuum is off in all phases, so that
what runs is Postgres's own background processes and the extension's workers.

    /usr/bin/python3 bench/idle_cost.py [--seconds 60] [--quick]   (--quick: 3 s windows, no phase 0)
"""
import argparse
import datetime as dt
import os
import re
import sys
import time

import benchlib as bl
from benchlib import API_KEY, SLUG, query, scalar

CONF = ["autovacuum = off", "log_min_messages = debug5"]
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[(\d+)\] (.*?) DEBUG:  CommitTransaction\(")


def xacts(cluster):
    """xact_commit + xact_rollback of every database, read on a fresh connection that is closed and
    whose backend has exited (and so reported its own transaction) before this returns."""
    c = cluster.connect("postgres")
    pid = c.get_backend_pid()
    v = scalar(c, "SELECT sum(xact_commit + xact_rollback)::bigint FROM pg_stat_database")
    c.close()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.005)
    return v


def cluster_ticks(cluster):
    """CPU ticks of the whole cluster: the postmaster and its children, with reaped children."""
    table = bl._proc_table()
    pm = bl.postmaster_pid(cluster)
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [pm]
    while stack:
        p = stack.pop()
        if p in table:
            total += table[p][1]
            stack.extend(children.get(p, ()))
    return total


def worker_snapshot(pid):
    if pid is None:
        return None
    ticks = bl.cpu_seconds(pid)
    ns = bl.oncpu_ns(pid)
    ctx = bl.ctx_switches(pid)
    if ticks is None or ns is None or ctx is None:
        return None
    return {"cpu_s": ticks, "oncpu_s": ns / 1e9, "voluntary": ctx[0]}


def commits_in_log(cluster, start, end):
    """(pid, backend type) -> [timestamps of CommitTransaction] between start and end (UTC)."""
    out = {}
    for line in cluster.server_log().splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
        if start <= t <= end:
            out.setdefault((int(m.group(2)), m.group(3)), []).append(t)
    return out


def wakeups(times, gap=0.2):
    """Groups commit timestamps into wake-ups (commits less than `gap` s apart are one wake-up)."""
    groups = []
    for t in sorted(times):
        if groups and (t - groups[-1][-1]).total_seconds() < gap:
            groups[-1].append(t)
        else:
            groups.append([t])
    return [g[0] for g in groups]


def measure(cluster, seconds, workers, sim=None, settle=3.0):
    """One idle window. workers: {"launcher": pid, "queue": pid} (empty without the library)."""
    time.sleep(settle)
    s0 = xacts(cluster)
    before = {k: worker_snapshot(p) for k, p in workers.items()}
    c0 = cluster_ticks(cluster)
    r0 = sim.stats()["requests"] if sim else 0
    w0 = dt.datetime.utcnow()
    m0 = time.monotonic()
    time.sleep(seconds)
    span = time.monotonic() - m0
    w1 = dt.datetime.utcnow()
    after = {k: worker_snapshot(p) for k, p in workers.items()}
    c1 = cluster_ticks(cluster)
    r1 = sim.stats()["requests"] if sim else 0
    s1 = xacts(cluster)
    log = commits_in_log(cluster, w0, w1)
    res = {"seconds": span, "cluster_cpu_s": (c1 - c0) / os.sysconf("SC_CLK_TCK"),
           "pg_stat_xacts": s1 - s0 - 1,  # minus the read of s0 itself
           "log_xacts_all": sum(len(v) for (pid, kind), v in log.items() if kind != "client backend"),
           "requests": r1 - r0, "workers": {}}
    for name, pid in workers.items():
        b, a = before[name], after[name]
        commits = [t for (p, kind), v in log.items() if p == pid for t in v]
        wakes = wakeups(commits)
        gaps = [(y - x).total_seconds() for x, y in zip(wakes, wakes[1:])]
        res["workers"][name] = {
            "pid": pid, "alive": a is not None,
            "cpu_s": a["cpu_s"] - b["cpu_s"] if a and b else None,
            "oncpu_s": a["oncpu_s"] - b["oncpu_s"] if a and b else None,
            "sleeps": a["voluntary"] - b["voluntary"] if a and b else None,
            "xacts": len(commits), "wakeups": len(wakes), "gaps": gaps}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--quick", action="store_true", help="3 s windows, no phase 0 (smoke test)")
    args = ap.parse_args()
    settle = 3.0
    if args.quick:
        args.seconds, settle = 3, 1.0
    T = args.seconds
    phases = {}

    with bl.Stack() as st:
        sim = st.simulator("--rate-limit", "0")
        sim.seed(workspace=SLUG, projects=1, items_per_project=50, tz="+05:30", api_key=API_KEY, seed=1)
        if not args.quick:
            plain = st.cluster(CONF, preload=False)
            c = plain.connect()
            machine = bl.machine(c)
            c.close()
            phases["0"] = measure(plain, T, {}, sim, settle)
            plain.cleanup()

        cluster = st.cluster(CONF)
        conn = st.connect(cluster)
        bl.setup_extension(conn)
        machine = bl.machine(conn)
        naptime = scalar(conn, "SHOW plane.launcher_naptime")
        poll = scalar(conn, "SHOW plane.poll_interval")
        pids = bl.wait_for_workers(conn)
        conn.close()
        workers = {"launcher": pids["launcher"], "queue": pids["queue"]}
        phases["A"] = measure(cluster, T, workers, sim, settle)

        conn = st.connect(cluster)
        sync = bl.add_installation_and_sync(conn, sim.url)
        pids_b = query(conn, "SELECT work_plane.launcher_pid() AS launcher, work_plane.queue_worker_pid() AS queue")[0]
        conn.close()
        phases["B"] = measure(cluster, T, {"launcher": pids_b["launcher"], "queue": pids_b["queue"]}, sim,
                              settle)

        # The workers' transactions reach pg_stat_database only when they exit: stop them.
        s_before = xacts(cluster)
        c = cluster.connect("postgres")
        scalar(c, "SELECT pg_terminate_backend(%s), pg_terminate_backend(%s)", (pids_b["launcher"], pids_b["queue"]))
        c.close()
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{p}") for p in (pids_b["launcher"], pids_b["queue"])) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        flushed = xacts(cluster) - s_before - 2  # minus the two reads/calls of ours

    naptime_s = float(re.match(r"(\d+)", naptime).group(1)) * (60 if naptime.endswith("min") else 1)
    expected = T / naptime_s
    print(f"# Idle cost: {T:g} s windows; plane.launcher_naptime = {naptime}, plane.poll_interval = {poll}")
    print()
    print(machine)
    print(f"phase B's installation: 1 project x 50 work items, first sync in {sync['seconds']:.2f} s "
          f"({sync['details'].get('requests')} requests), then idle; autovacuum off; log_min_messages = debug5")
    print()
    labels = {"0": "(0) Postgres without the library (reference)",
              "A": "(A) extension, no installation (baseline)",
              "B": "(B) extension, one installation synced, nothing changing"}
    rows = []
    for key in ("0", "A", "B"):
        if key not in phases:
            continue
        p = phases[key]
        ws = p["workers"]
        oncpu = sum(w["oncpu_s"] or 0 for w in ws.values()) if ws else None
        rows.append([labels[key], f"{p['cluster_cpu_s']:.2f}",
                     "-" if oncpu is None else f"{oncpu * 1000:.1f}",
                     "-" if not ws else f"{sum(w['cpu_s'] or 0 for w in ws.values()):.2f}",
                     "-" if not ws else " / ".join(str(ws[k]["wakeups"]) for k in ("launcher", "queue")),
                     "-" if not ws else " / ".join(str(ws[k]["sleeps"]) for k in ("launcher", "queue")),
                     "-" if not ws else " / ".join(str(ws[k]["xacts"]) for k in ("launcher", "queue")),
                     str(p["log_xacts_all"]), str(p["pg_stat_xacts"]), str(p["requests"])])
    bl.table(["phase", "cluster CPU s", "workers on CPU (ms)", "workers utime+stime (s)",
              "wake-ups launcher / queue", "sleeps (voluntary ctx switches) launcher / queue",
              "transactions launcher / queue (log)", "transactions, all background processes (log)",
              "pg_stat_database xact delta", "requests to Plane"], rows)
    a, b = phases["A"], phases["B"]

    def ratio(x, y):
        return "-" if not y else f"{x / y:.2f}×"
    on_a = sum(w["oncpu_s"] for w in a["workers"].values())
    on_b = sum(w["oncpu_s"] for w in b["workers"].values())
    xa = sum(w["xacts"] for w in a["workers"].values())
    xb = sum(w["xacts"] for w in b["workers"].values())
    wa = sum(w["wakeups"] for w in a["workers"].values())
    wb = sum(w["wakeups"] for w in b["workers"].values())
    print(f"(B) ÷ (A): workers on CPU {ratio(on_b, on_a)}, transactions {ratio(xb, xa)}, wake-ups "
          f"{ratio(wb, wa)}, cluster CPU {ratio(b['cluster_cpu_s'], a['cluster_cpu_s'])}; per minute in (B): "
          f"{on_b * 1000 * 60 / T:.1f} ms of CPU ({100 * on_b / T:.3f}% of one core), {xb * 60 / T:.0f} "
          f"transactions, {wb * 60 / T:.0f} wake-ups, {b['requests'] * 60 / T:.0f} requests to Plane")
    for key in ("A", "B"):
        for name in ("launcher", "queue"):
            g = phases[key]["workers"][name]["gaps"]
            if g:
                print(f"({key}) {name}: seconds between wake-ups: min {min(g):.2f}, max {max(g):.2f} "
                      f"(naptime {naptime_s:g} s)")
    print(f"pg_stat_database after stopping the two workers (they report at exit): +{flushed} "
          f"transactions they had run since they started, invisible until then")
    print()
    gaps = [x for key in ("A", "B") for w in phases[key]["workers"].values() for x in w["gaps"]]
    on_schedule = (not gaps or min(gaps) >= 0.9 * naptime_s) and all(
        w["wakeups"] <= expected + 1.5 for key in ("A", "B") for w in phases[key]["workers"].values())
    bl.table(["target", "figure", "result"], [
        ["no busy-polling: each worker wakes at most once per naptime",
         f"{wb} wake-ups of 2 workers in {T:g} s (expected ≤ {2 * (expected + 1):.0f}); shortest gap "
         + (f"{min(gaps):.2f} s" if gaps else "-"), bl.verdict(on_schedule)],
        ["no requests to Plane while nothing is due (poll interval not reached)", str(b["requests"]),
         bl.verdict(b["requests"] == 0)],
    ])
    alive = all(w["alive"] for key in ("A", "B") for w in phases[key]["workers"].values())
    if not alive:
        print("SANITY CHECK FAILED: a worker restarted during a window", file=sys.stderr)
    return 0 if alive else 1


if __name__ == "__main__":
    bl.main_wrapper(main)
