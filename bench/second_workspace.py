#!/usr/bin/env python3
"""Second workspace: the first sync of a workspace added after work_plane.items has been analyzed
(as autovacuum does after the first workspace's backfill) against the first sync of the first
workspace, same size (the baseline). Found while writing backfill_throughput.py.

The gone-marking statements of src/pg/mirror_sink.cpp (mark_missing, find_missing: "rows of this
scope whose id is not in the JSON array $2") are planned from the table's statistics. Rows of a
workspace the statistics have never seen are estimated at 1, the planner picks nested loops, and
each statement costs (rows of the workspace so far)^2: the sync slows down quadratically with the
size of the workspace. auto_explain (preloaded, log_min_duration 500 ms, log_analyze without
timing) logs the plan of every statement of the sync that takes longer, whatever the current
source says; the script prints the slowest, and EXPLAIN ANALYZE of the same gone-marking written as
one scan of the scope (`plane_id <> ALL (...)`) in the same state, for comparison.

Autovacuum is off so that the statistics are what the script makes them (ANALYZE after the first
workspace).

    /usr/bin/python3 bench/second_workspace.py [--projects 3] [--items-per-project 2000] [--quick]
"""
import argparse
import re

import benchlib as bl
from benchlib import API_KEY, scalar

ONE_SCAN = (
    "UPDATE work_plane.items t SET gone_at = now() WHERE t.workspace_slug = %(slug)s "
    "AND t.project_plane_id = %(project)s AND t.item_type = %(type)s AND t.gone_at IS NULL "
    "AND t.plane_id <> ALL (ARRAY(SELECT jsonb_array_elements_text(%(ids)s::jsonb)))")


def slow_plans(log):
    """[(ms, [lines])] of auto_explain's entries in the server log, slowest first."""
    out, cur = [], None
    for line in log.splitlines():
        m = re.search(r"LOG:  duration: ([0-9.]+) ms  plan:", line)
        if m:
            cur = (float(m.group(1)), [])
            out.append(cur)
        elif cur is not None and (line.startswith("\t") or line.startswith(" ")):
            cur[1].append(line.strip("\t").rstrip())
        else:
            cur = None
    return sorted(out, key=lambda x: -x[0])


def explain(conn, sql, params):
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    plan = [r[0] for r in cur.fetchall()]
    cur.execute("ROLLBACK")
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--projects", type=int, default=3)
    ap.add_argument("--items-per-project", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="2 projects x 300 items (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.projects, args.items_per_project = 2, 300
    key2 = API_KEY.replace("bench", "bnch2")
    seed = dict(projects=args.projects, items_per_project=args.items_per_project, tz="+05:30", seed=1,
                archived_items_per_project=0, draft_items_per_project=0)

    with bl.Stack() as st:
        sim = st.simulator("--rate-limit", "0")
        sim.seed(workspace="bench", api_key=API_KEY, **seed)
        sim.seed(workspace="bench2", api_key=key2, **seed)
        cluster = st.cluster(["plane.rate_limit_per_minute = 0", "plane.sync_pages = off", "autovacuum = off",
                              "plane.poll_interval = 86400", "auto_explain.log_min_duration = '500ms'",
                              "auto_explain.log_analyze = on", "auto_explain.log_timing = off",
                              "auto_explain.log_buffers = on", "auto_explain.log_nested_statements = on"],
                             also_preload=("auto_explain",))
        conn = st.connect(cluster)
        bl.setup_extension(conn)
        machine = bl.machine(conn)
        scalar(conn, "SELECT vault.create_secret(%s, 'plane_api_key:bench2')", (key2,))
        first = bl.add_installation_and_sync(conn, sim.url)
        scalar(conn, "ANALYZE work_plane.items")
        second = bl.add_installation_and_sync(conn, sim.url, slug="bench2", timeout=3600)
        project = scalar(conn, "SELECT project_plane_id FROM work_plane.items WHERE workspace_slug = 'bench2' "
                               "AND item_type = 'cycle' ORDER BY project_plane_id LIMIT 1")
        ids = scalar(conn, "SELECT jsonb_agg(plane_id)::text FROM work_plane.items WHERE workspace_slug = 'bench2' "
                           "AND item_type = 'cycle' AND project_plane_id = %s", (project,))
        rows = scalar(conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'bench2'")
        params = {"slug": "bench2", "ids": ids, "project": project, "type": "cycle"}
        plan_fix = explain(conn, ONE_SCAN, params)
        slow = slow_plans(cluster.server_log())

    ratio = second["seconds"] / first["seconds"]
    print(f"# Second workspace: two workspaces of {args.projects} projects x {args.items_per_project:,} "
          f"work items, the second added after ANALYZE work_plane.items")
    print()
    print(machine)
    print()
    bl.table(["first sync of", "seconds", "sync worker CPU s", "requests", "÷ baseline"], [
        ["the first workspace (baseline)", f"{first['seconds']:.2f}", f"{first['worker_cpu_s']:.2f}",
         first["details"].get("requests"), "1.00×"],
        ["a second workspace of the same size, statistics from before it",
         f"{second['seconds']:.2f}", f"{second['worker_cpu_s']:.2f}", second["details"].get("requests"),
         f"{ratio:.2f}×"],
    ])
    total_slow = sum(ms for ms, _ in slow) / 1000
    print(f"statements of the syncs slower than 500 ms (auto_explain): {len(slow)}, {total_slow:.1f} s in all; "
          f"the slowest ({rows:,} rows of the second workspace in work_plane.items at the end):")
    print()
    print("```")
    if slow:
        print(f"duration: {slow[0][0]:.1f} ms")
        print("\n".join(line[:400] for line in slow[0][1]))
    print("```")
    print()
    print("one project's cycles marked gone in one scan (`plane_id <> ALL (ARRAY(...))`), same statistics:")
    print()
    print("```")
    print("\n".join(plan_fix))
    print("```")
    print()
    bl.table(["expectation", "figure", "result"], [
        ["a second workspace syncs about as fast as the first (≤ 1.5×)", f"{ratio:.2f}×",
         bl.verdict(ratio <= 1.5)]])
    return 0


if __name__ == "__main__":
    bl.main_wrapper(main)
