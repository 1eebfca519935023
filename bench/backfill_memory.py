#!/usr/bin/env python3
"""Worker memory over a long backfill: 100,000 work items (10 projects x 10,000) mirrored from the
simulator with no rate limit, per_page 100 (1,000+ pages). Samples the sync worker's private
memory (RssAnon: what a leak would grow; VmRSS also counts shared buffers it touches) every 50 ms.

Baseline: RssAnon after the first work-item pages. Target (issue #7): growth <= 20 MiB, flat rather
than linear (compare the quarters).

    /usr/bin/python3 bench/backfill_memory.py [--items-per-project 10000] [--projects 10]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "integration"))
from harness import Cluster, Simulator, install_extension, scalar, query, wait_until  # noqa: E402


def proc_mem_kib(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "VmHWM"):
                    out[key] = int(rest.split()[0])
    except FileNotFoundError:
        return None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--projects", type=int, default=10)
    ap.add_argument("--items-per-project", type=int, default=10000)
    ap.add_argument("--page-size", type=int, default=100)
    args = ap.parse_args()
    total = args.projects * args.items_per_project

    sim = Simulator("--rate-limit", "0")
    cluster = Cluster([f"plane.page_size = {args.page_size}", "plane.rate_limit_per_minute = 0",
                       "plane.sync_pages = off", "plane.launcher_naptime = 1"])
    try:
        t0 = time.monotonic()
        sim.seed(workspace="bench", projects=args.projects, items_per_project=args.items_per_project,
                 tz="+05:30", api_key="plane_api_bench0123456789abcdef012345", seed=1,
                 archived_items_per_project=0, draft_items_per_project=0)
        seed_s = time.monotonic() - t0
        cluster.start()
        conn = cluster.connect()
        install_extension(conn)
        scalar(conn, "SELECT vault.create_secret('plane_api_bench0123456789abcdef012345', 'plane_api_key:bench')")
        started = time.monotonic()
        scalar(conn, "SELECT workspace_slug FROM work_plane.add_installation('bench', api_url => %s)", (sim.url,))
        pid = wait_until(lambda: scalar(conn, "SELECT worker_pid FROM work_plane.sync_state "
                                              "WHERE workspace_slug = 'bench' AND state = 'running'"),
                         timeout=60, interval=0.01, message="sync worker")
        samples = []  # (rows_done, RssAnon KiB, VmRSS KiB)
        baseline = None
        while True:
            mem = proc_mem_kib(pid)
            if mem is None:
                break
            rows = scalar(conn, "SELECT rows_done FROM work_plane.sync_state WHERE workspace_slug = 'bench'") or 0
            phase = scalar(conn, "SELECT phase FROM work_plane.sync_state WHERE workspace_slug = 'bench'")
            if phase == "work_items" and rows >= 500:
                samples.append((rows, mem.get("RssAnon", 0), mem.get("VmRSS", 0)))
                if baseline is None:
                    baseline = samples[-1]
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        run = query(conn, "SELECT details FROM ops.run_events WHERE workspace_slug = 'bench' "
                          "AND action IN ('sync', 'sync_failed') ORDER BY id DESC LIMIT 1")[0]["details"]
        mirrored = scalar(conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'bench' AND item_type = 'issue'")
        conn.close()
    finally:
        cluster.cleanup()
        sim.stop()

    if not samples:
        print("no samples taken: the sync ended before the first work-item pages", file=sys.stderr)
        return 1
    peak_anon = max(s[1] for s in samples)
    growth_mib = (peak_anon - baseline[1]) / 1024
    quarters = []
    for q in (0.25, 0.5, 0.75, 1.0):
        target = total * q
        at = min(samples, key=lambda s: abs(s[0] - target))
        quarters.append(at)
    print(f"backfill of {mirrored:,} work items ({args.projects} projects x {args.items_per_project:,}, "
          f"per_page {args.page_size}) in {elapsed:.1f} s = {mirrored / elapsed:,.0f} items/s "
          f"(simulator seeded in {seed_s:.1f} s; run: {run.get('pages')} pages, {run.get('requests')} requests)")
    print()
    print("| point | rows done | RssAnon (MiB) | VmRSS (MiB) |")
    print("|---|---:|---:|---:|")
    print(f"| baseline (after first pages) | {baseline[0]:,} | {baseline[1] / 1024:.1f} | {baseline[2] / 1024:.1f} |")
    for name, s in zip(("25%", "50%", "75%", "end"), quarters):
        print(f"| {name} | {s[0]:,} | {s[1] / 1024:.1f} | {s[2] / 1024:.1f} |")
    print(f"| peak | | {peak_anon / 1024:.1f} | {max(s[2] for s in samples) / 1024:.1f} |")
    print()
    print(f"private memory growth over the backfill: {growth_mib:.1f} MiB "
          f"(ratio peak/baseline {peak_anon / baseline[1]:.2f}; target <= 20 MiB growth: "
          f"{'met' if growth_mib <= 20 else 'MISSED'})")
    return 0 if mirrored == total else 1


if __name__ == "__main__":
    sys.exit(main())
