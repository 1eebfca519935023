#!/usr/bin/env python3
"""Page size: requests and minutes of a 20,000-item first sync at Plane's 60 requests a minute,
with the page size the connector used before (a fixed per_page of 100) and now (the largest page the
server allows, learned once per installation), on a Community Edition server (1,000 rows a page)
and on a Plane Cloud-like server (100 a page, larger sizes refused with 400).

The simulator enforces the limit as Plane does (a sliding window per key, 429 with Retry-After) and
the connector paces itself to it. To keep the run short the window is compressed --speedup times
(60 requests per 60/speedup seconds); the printed minutes are at the real 60 requests a minute:
"min at 1/s" is the requests paced at one a second (requests / 60), and "measured" the wall time
scaled back by the compression factor (Plane's sliding window lets the first 60 go at once).

    /usr/bin/python3 bench/page_size_backfill.py [--items 20000] [--projects 4] [--speedup 10] [--quick]
"""
import argparse
import sys

import benchlib as bl
from benchlib import API_KEY, SLUG, scalar


def first_sync(st, items_per_project, projects, cap, mode, page_size, speedup):
    """One first sync of a fresh workspace; returns (requests, wall seconds, learned page size)."""
    window = max(1, round(60 / speedup))
    sim = st.simulator("--rate-limit", "60", "--rate-window", str(window))
    sim.seed(workspace=SLUG, projects=projects, items_per_project=items_per_project, tz="Z", api_key=API_KEY,
             seed=1, archived_items_per_project=0, draft_items_per_project=0)
    sim.config(workspace=SLUG, page_size_cap=cap, page_size_mode=mode)
    cluster = st.cluster([f"plane.page_size = {page_size}", "plane.rate_limit_per_minute = 60",
                          f"plane.rate_limit_window = {window}", "plane.sync_pages = off",
                          "plane.launcher_naptime = 1", "plane.poll_interval = 86400"])
    conn = st.connect(cluster)
    bl.setup_extension(conn)
    sim.control("POST", "stats/reset")
    result = bl.add_installation_and_sync(conn, sim.url, timeout=3600)
    requests = sim.stats()["requests"]
    learned = scalar(conn, "SELECT page_size FROM work_plane.api_profile WHERE workspace_slug = %s", (SLUG,))
    return requests, result["seconds"], learned, window


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=20000, help="work items in the workspace (default 20000)")
    ap.add_argument("--projects", type=int, default=4)
    ap.add_argument("--speedup", type=int, default=10, help="how many times the 60 s window is compressed")
    ap.add_argument("--quick", action="store_true", help="2,000 items, window compressed 30 times (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.items, args.speedup = 2000, 30
    per_project = args.items // args.projects
    cases = [
        ("Community Edition (1,000 a page)", 1000, "reject"),
        ("Plane Cloud (100 a page, 400 above)", 100, "reject"),
    ]
    rows = []
    for server, cap, mode in cases:
        for label, page_size in (("before: per_page 100", 100), ("now: largest allowed", 1000)):
            with bl.Stack() as st:
                requests, seconds, learned, window = first_sync(st, per_project, args.projects, cap, mode,
                                                                page_size, args.speedup)
            scale = 60 / window  # the measured time at the real 60-second window
            rows.append((server, label, learned, requests, requests / 60, seconds * scale / 60))
    print(f"first sync of {per_project * args.projects} work items in {args.projects} projects at 60 requests/min "
          f"(window compressed {60 / max(1, round(60 / args.speedup)):.0f}x; minutes shown at the real rate)")
    print(f"{'server':38} {'page size':24} {'learned':>7} {'requests':>8} {'min at 1/s':>10} {'min (measured)':>14}")
    for server, label, learned, requests, floor_min, measured_min in rows:
        print(f"{server:38} {label:24} {learned or '-':>7} {requests:>8} {floor_min:>10.1f} {measured_min:>14.1f}")
    for server, _, _ in cases:
        before = next(r for r in rows if r[0] == server and r[1].startswith("before"))
        now = next(r for r in rows if r[0] == server and r[1].startswith("now"))
        print(f"{server}: {now[3]} requests instead of {before[3]} ({before[3] / now[3]:.1f}x fewer), "
              f"{now[5]:.1f} min instead of {before[5]:.1f}")
    ce_before = next(r for r in rows if r[0] == cases[0][0] and r[1].startswith("before"))
    ce_now = next(r for r in rows if r[0] == cases[0][0] and r[1].startswith("now"))
    cloud_now = next(r for r in rows if r[0] == cases[1][0] and r[1].startswith("now"))
    if ce_now[2] != 1000 or cloud_now[2] != 100 or ce_now[3] >= ce_before[3]:
        print("unexpected: the learned page sizes or the request counts are wrong", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
