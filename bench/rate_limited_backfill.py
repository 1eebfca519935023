#!/usr/bin/env python3
"""Rate-limited backfill: how much of Plane's request budget the extension's first sync uses, with
the simulator enforcing the same limit (a sliding window per API key, counted at arrival, 429 with
Retry-After past it) as the extension paces itself to (plane.rate_limit_per_minute requests per
plane.rate_limit_window).

The backfill needs about --windows windows' worth of requests. The simulator's request counter is
polled every 10 ms; the figure is the sustained rate: the sliding window lets the first `limit`
requests go at once, so the rate is taken from the first request to the first request of the last
full window (request k*limit+1): k*limit requests in that time, as a fraction of limit/window.
Baseline: the configured limit itself (100%).

Target: >= 95% of the limit, at most one 429 per run.

    /usr/bin/python3 bench/rate_limited_backfill.py [--limit 60] [--window 10] [--windows 3] [--quick]
"""
import argparse
import math
import sys
import time

import benchlib as bl
from benchlib import API_KEY, SLUG, query, scalar


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=60, help="requests per window (default 60)")
    ap.add_argument("--window", type=int, default=10, help="window in seconds (default 10)")
    ap.add_argument("--windows", type=int, default=3, help="windows of requests the backfill needs")
    ap.add_argument("--projects", type=int, default=2)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="limit 10 per 2 s, 2 windows (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.limit, args.window, args.windows, args.projects = 10, 2, 2, 1
    L, W, P = args.limit, args.window, args.projects
    # Requests of a first sync: 1 (projects) + 6 per project (states, labels, cycles, archived
    # cycles, modules, archived modules; one page each here) + the work-item pages, and then the
    # members of each cycle and module: sized on the first three, the rest only adds requests.
    wanted = args.windows * L + 5
    pages_per_project = max(1, math.ceil((wanted - 1 - 6 * P) / P))
    items = pages_per_project * args.page_size

    with bl.Stack() as st:
        sim = st.simulator("--rate-limit", str(L), "--rate-window", str(W))
        sim.seed(workspace=SLUG, projects=P, items_per_project=items, tz="+05:30", api_key=API_KEY,
                 seed=1, archived_items_per_project=0, draft_items_per_project=0)
        cluster = st.cluster([f"plane.page_size = {args.page_size}", f"plane.rate_limit_per_minute = {L}",
                              f"plane.rate_limit_window = {W}", "plane.sync_pages = off",
                              "plane.launcher_naptime = 1", "plane.poll_interval = 86400"])
        conn = st.connect(cluster)
        bl.setup_extension(conn)
        machine = bl.machine(conn)
        sim.control("POST", "stats/reset")

        before = scalar(conn, "SELECT coalesce(max(id), 0) FROM ops.run_events")
        samples = []  # (monotonic seconds, requests the simulator has received)
        t0 = time.monotonic()
        scalar(conn, "SELECT workspace_slug FROM work_plane.add_installation(%s, api_url => %s)",
                    (SLUG, sim.url))
        deadline = t0 + (args.windows + 3) * W + 120
        summary = None
        while summary is None and time.monotonic() < deadline:
            samples.append((time.monotonic(), sim.stats()["requests"]))
            if len(samples) % 10 == 0:
                rows = query(conn, "SELECT action, details FROM ops.run_events WHERE id > %s AND "
                                   "action IN ('sync', 'sync_failed') ORDER BY id LIMIT 1", (before,))
                summary = rows[0] if rows else None
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        stats = sim.stats()
        budget = query(conn, "SELECT * FROM work_plane.rate_budgets()")
        mirrored = scalar(conn, "SELECT count(*) FROM work_plane.items WHERE item_type = 'issue'")

    if summary is None or summary["action"] != "sync":
        print(f"the sync did not finish well: {summary}", file=sys.stderr)
        return 1
    total = stats["requests"]

    def first_time_reaching(n):
        return next((t for t, c in samples if c >= n), None)

    t_first = first_time_reaching(1)
    k = (total - 1) // L  # full windows after the first: request k*L+1 is the last window's first
    t_k = first_time_reaching(k * L + 1)
    sustained = k * L / (t_k - t_first)  # requests per second
    ratio = sustained / (L / W)
    per_window = []
    for i in range(k + 1):
        lo, hi = t_first + i * W, t_first + (i + 1) * W
        c_lo = max((c for t, c in samples if t <= lo), default=0)
        c_hi = max((c for t, c in samples if t <= hi), default=total)
        per_window.append(c_hi - c_lo)
    d = summary["details"]
    b = budget[0] if budget else {}

    print(f"# Rate-limited backfill: limit {L} requests per {W} s window "
          f"(= {L * 60 / W:,.0f}/min), {P} projects x {items:,} work items, per_page {args.page_size}")
    print()
    print(machine)
    print(f"window used: {W} s (Plane's is 60 s; a shorter one keeps the run short, the pacing logic is "
          f"the same); extension: plane.rate_limit_per_minute = {L}, plane.rate_limit_window = {W}s; "
          f"simulator: --rate-limit {L} --rate-window {W}")
    print()
    bl.table(["figure", "value", "÷ limit (baseline)"], [
        ["requests made (simulator count)", f"{total} (the extension counted {d.get('requests')})", ""],
        ["backfill duration, add_installation → summary row (s)", f"{elapsed:.2f}", ""],
        [f"sustained rate: {k * L} requests from request 1 to request {k * L + 1} (s)",
         f"{t_k - t_first:.2f}", ""],
        ["sustained requests per window", f"{sustained * W:.1f}", bl.pct(ratio)],
        ["sustained requests per minute", f"{sustained * 60:.1f}", bl.pct(ratio)],
        ["configured limit per window (baseline)", f"{L}", "100.0%"],
        ["most requests in any sliding window (simulator)", f"{stats['max_requests_in_any_window']}",
         bl.pct(stats['max_requests_in_any_window'] / L)],
        ["429 responses (simulator rate_limited)", f"{stats['rate_limited']}", ""],
        ["429s seen by the extension (run summary: throttled)", f"{d.get('throttled')}", ""],
        ["work items mirrored", f"{mirrored:,}", ""],
    ])
    print("requests in consecutive windows from the first request: "
          + ", ".join(str(n) for n in per_window) + f" (limit {L} each)")
    print(f"the extension's budget after the run (work_plane.rate_budgets()): requests_total "
          f"{b.get('requests_total')}, throttled_total {b.get('throttled_total')}, window_seconds "
          f"{b.get('window_seconds')}")
    print()
    t1 = ratio >= 0.95
    t2 = stats["rate_limited"] <= 1
    bl.table(["target", "figure", "result"], [
        ["≥ 95% of the limit (sustained)", bl.pct(ratio), bl.verdict(t1)],
        ["at most one 429 per run", str(stats["rate_limited"]), bl.verdict(t2)],
    ])
    return 0 if mirrored == P * items and total == d.get("requests") else 1


if __name__ == "__main__":
    bl.main_wrapper(main)
