#!/usr/bin/env python3
"""Backfill throughput: work items/s mirrored by the extension's first sync (no rate limit,
per_page 100), against two baselines run in the same process on the same pages:

  (a) what a user would otherwise write: a Python script (psycopg2, http.client keep-alive) that
      pages through the same API (X-API-Key, per_page, cursor loop on next_page_results) and
      upserts row by row (INSERT ... ON CONFLICT per row, autocommit off, commit per page);
  (b) the floor: one curl process fetching every page, piped into COPY, then one set-based
      INSERT ... SELECT ... ON CONFLICT of all rows (jsonb_to_record), one transaction.

So that the simulator is not what is measured, every page is captured once from the simulator and
served by bench/static_plane.py (pre-rendered bodies, keep-alive); the extension and both baselines
read from it. How fast the simulator and the static server alone serve the pages (curl only) is
measured too, and, unless --quick, the extension's sync against the simulator itself.

Each round also runs the extension's first sync with the search, chunk and history triggers of
work_plane.items disabled: what the 0.2.0 search index and change history cost a backfill.

Targets: the extension without those triggers (the baselines' tables have none) >= 3x (a) and
within 1.5x of (b) (its time <= 1.5 x (b)'s time); with them, within 15% of its time without.

    /usr/bin/python3 bench/backfill_throughput.py [--projects 10] [--items-per-project 2000] [--quick]
"""
import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode, urlsplit

import benchlib as bl
from benchlib import API_KEY, SLUG, scalar, wait_until

ITEM_COLUMNS = ("workspace_slug, plane_id, item_type, project_plane_id, name, sequence_id, "
                "state_plane_id, priority, parent_plane_id, assignee_ids, label_ids, start_date, "
                "target_date, completed_at, archived_at, plane_created_at, plane_updated_at, raw, "
                "synced_at, gone_at")
# The same conflict clause as the extension's upsert (src/pg/mirror_sql.hpp, kUpsertItems).
ON_CONFLICT = (
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET item_type = excluded.item_type, "
    "project_plane_id = excluded.project_plane_id, name = excluded.name, "
    "sequence_id = excluded.sequence_id, state_plane_id = excluded.state_plane_id, "
    "priority = excluded.priority, parent_plane_id = excluded.parent_plane_id, "
    "assignee_ids = excluded.assignee_ids, label_ids = excluded.label_ids, "
    "start_date = excluded.start_date, target_date = excluded.target_date, "
    "completed_at = excluded.completed_at, archived_at = excluded.archived_at, "
    "plane_created_at = excluded.plane_created_at, plane_updated_at = excluded.plane_updated_at, "
    "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL "
    "WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL "
    "OR excluded.plane_updated_at >= t.plane_updated_at")


# ------------------------------------------------------------------------------------------------
# Capture: every page any contender will ask for, fetched once from the simulator.

class Api:
    """A keep-alive HTTP client of a Plane-like server (http.client, like a user's script)."""

    def __init__(self, base_url, key):
        u = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.key = key

    def get(self, path_query):
        self.conn.request("GET", path_query, headers={"X-API-Key": self.key, "Accept": "application/json"})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path_query} -> {resp.status}: {body[:200]!r}")
        return body

    def close(self):
        self.conn.close()


def ws_path(slug, rest, **params):
    return f"/api/v1/workspaces/{slug}/{rest}" + ("?" + urlencode(params) if params else "")


def capture(base_url, key, slug, page_size):
    """Returns (bodies by path?query, work-item page paths in order, number of requests the
    extension's first sync makes)."""
    api = Api(base_url, key)
    bodies = {}
    item_pages = []

    def walk(rest, **params):
        cursor = None
        while True:
            p = dict(params, per_page=page_size)
            if cursor:
                p["cursor"] = cursor
            path = ws_path(slug, rest, **p)
            body = api.get(path)
            bodies[path] = body.decode("utf-8")
            doc = json.loads(body)
            yield path, doc
            if isinstance(doc, list) or not doc.get("next_page_results"):
                return
            cursor = doc["next_cursor"]

    projects = []
    for _, doc in walk("projects/"):
        projects += [p["id"] for p in doc["results"] if not p.get("archived_at")]
    ext_requests = len(bodies)
    for pid in projects:
        for lst in ("states", "labels", "cycles", "archived-cycles", "modules", "archived-modules"):
            ext_requests += sum(1 for _ in walk(f"projects/{pid}/{lst}/"))
        for path, _ in walk(f"projects/{pid}/work-items/", order_by="created_at"):
            item_pages.append(path)
            ext_requests += 1
    api.close()
    return bodies, item_pages, ext_requests


def rehearse(conn, sim, key):
    """The extension's first sync against the simulator: returns {path?query: body} of every GET it
    made that the simulator answered 200, and leaves the database without the installation."""
    sim.control("POST", "stats/reset")
    bl.add_installation_and_sync(conn, sim.url)
    log = sim.control("GET", "requests")["requests"]
    scalar(conn, "SELECT work_plane.remove_installation(%s)", (SLUG,))
    scalar(conn, "VACUUM ANALYZE work_plane.items")
    api = Api(sim.url, key)
    bodies = {}
    for r in log:
        if r["method"] != "GET" or r["status"] != 200:
            continue
        path = r["path"] + ("?" + r["query"] if r["query"] else "")
        if path not in bodies:
            bodies[path] = api.get(path).decode("utf-8")
    api.close()
    return bodies


def start_static(stack, pages_file, key):
    tmp = tempfile.mkdtemp(prefix="plane_static_")
    stack.callback(lambda: os.path.exists(tmp) and __import__("shutil").rmtree(tmp, ignore_errors=True))
    port_file = os.path.join(tmp, "port")
    proc = stack.process([sys.executable, str(bl.BENCH / "static_plane.py"), "--pages", pages_file,
                          "--port-file", port_file, "--api-key", key, "--parent-pid", str(os.getpid())])
    wait_until(lambda: os.path.exists(port_file) or proc.poll() is not None, timeout=30,
               message="static server port file")
    if proc.poll() is not None:
        raise RuntimeError("static_plane.py exited")
    with open(port_file) as f:
        return proc, f"http://127.0.0.1:{int(f.read())}"


def static_stats(url, reset=False):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("POST" if reset else "GET", "/_static/stats/reset" if reset else "/_static/stats",
              body=b"" if reset else None)
    doc = json.loads(c.getresponse().read())
    c.close()
    return doc


def curl_config(base_url, paths, path):
    with open(path, "w") as f:
        for p in paths:
            f.write(f'url = "{base_url}{p}"\n')
    return path


def curl_fetch_seconds(cfg, key, repeat=3):
    """Best of `repeat` runs of one curl process fetching every URL in cfg over one keep-alive
    connection, bodies thrown away."""
    best = None
    for _ in range(repeat):
        t0 = time.monotonic()
        subprocess.run(["curl", "-sS", "--fail", "-H", f"X-API-Key: {key}", "-K", cfg],
                       stdout=subprocess.DEVNULL, check=True)
        dt = time.monotonic() - t0
        best = dt if best is None or dt < best else best
    return best


# ------------------------------------------------------------------------------------------------
# Baselines

UPSERT_ONE = (f"INSERT INTO bench.items_a AS t ({ITEM_COLUMNS}) VALUES "
              "(%s, %s, 'issue', %s, %s, %s, %s, %s, %s, %s::text[], %s::text[], %s, %s, %s, %s, %s, %s, "
              "%s::jsonb, now(), NULL) " + ON_CONFLICT)


def baseline_row_by_row(cluster, base_url, key, slug, page_size):
    """(a): the script a user would write. Returns seconds, rows, requests and cpu_s (this
    process and its Postgres backend)."""
    conn = cluster.connect()
    conn.autocommit = False
    cur = conn.cursor()
    backend = conn.get_backend_pid()
    cpu0 = (bl.oncpu_ns(backend), time.process_time())
    t0 = time.monotonic()
    api = Api(base_url, key)
    requests = 0
    rows = 0
    projects = []
    cursor = None
    while True:
        params = {"per_page": page_size, **({"cursor": cursor} if cursor else {})}
        page = json.loads(api.get(ws_path(slug, "projects/", **params)))
        requests += 1
        projects += [p["id"] for p in page["results"] if not p.get("archived_at")]
        if not page["next_page_results"]:
            break
        cursor = page["next_cursor"]
    for pid in projects:
        cursor = None
        while True:
            params = {"order_by": "created_at", "per_page": page_size, **({"cursor": cursor} if cursor else {})}
            page = json.loads(api.get(ws_path(slug, f"projects/{pid}/work-items/", **params)))
            requests += 1
            for it in page["results"]:
                cur.execute(UPSERT_ONE, (
                    slug, it["id"], it.get("project") or pid, it.get("name"), it.get("sequence_id"),
                    it.get("state"), it.get("priority"), it.get("parent"), it.get("assignees") or [],
                    it.get("labels") or [], it.get("start_date"), it.get("target_date"),
                    it.get("completed_at"), it.get("archived_at"), it.get("created_at"),
                    it.get("updated_at"), json.dumps(it)))
                rows += 1
            conn.commit()
            if not page["next_page_results"]:
                break
            cursor = page["next_cursor"]
    elapsed = time.monotonic() - t0
    cpu = (bl.oncpu_ns(backend) - cpu0[0]) / 1e9 + time.process_time() - cpu0[1]
    api.close()
    conn.close()
    return {"seconds": elapsed, "rows": rows, "requests": requests, "cpu_s": cpu}


FLOOR_INSERT = (
    f"INSERT INTO bench.items_b AS t ({ITEM_COLUMNS}) "
    "SELECT %s, r.id, 'issue', r.project, r.name, r.sequence_id, r.state, r.priority, r.parent, "
    "coalesce(r.assignees, '{}'), coalesce(r.labels, '{}'), r.start_date, r.target_date, "
    "r.completed_at, r.archived_at, r.created_at, r.updated_at, e, now(), NULL "
    "FROM pg_temp.pages p, jsonb_array_elements(p.body->'results') e, "
    "jsonb_to_record(e) AS r(id text, project text, name text, sequence_id int, state text, "
    "priority text, parent text, assignees text[], labels text[], start_date date, target_date date, "
    "completed_at timestamptz, archived_at timestamptz, created_at timestamptz, updated_at timestamptz) "
    + ON_CONFLICT)


def baseline_floor(cluster, cfg, key, slug):
    """(b): curl | COPY, then one INSERT ... SELECT ... ON CONFLICT. Returns seconds, rows and
    cpu_s (curl, this process and its Postgres backend)."""
    conn = cluster.connect()
    conn.autocommit = False
    cur = conn.cursor()
    backend = conn.get_backend_pid()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = (bl.oncpu_ns(backend), time.process_time(), ru.ru_utime + ru.ru_stime)
    t0 = time.monotonic()
    cur.execute("CREATE TEMP TABLE pages (body jsonb) ON COMMIT DROP")
    curl = subprocess.Popen(["curl", "-sS", "--fail", "-H", f"X-API-Key: {key}", "-K", cfg, "-w", "\n"],
                            stdout=subprocess.PIPE)
    # One page body per line; CSV with quote and delimiter bytes that JSON never contains, so the
    # line is taken verbatim.
    cur.copy_expert("COPY pg_temp.pages (body) FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', "
                    "DELIMITER E'\\x02')", curl.stdout)
    if curl.wait() != 0:
        raise RuntimeError("curl failed")
    cur.execute(FLOOR_INSERT, (slug,))
    rows = cur.rowcount
    conn.commit()
    elapsed = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((bl.oncpu_ns(backend) - cpu0[0]) / 1e9 + time.process_time() - cpu0[1]
           + ru.ru_utime + ru.ru_stime - cpu0[2])
    conn.close()
    return {"seconds": elapsed, "rows": rows, "cpu_s": cpu}


MISMATCH_SQL = """
SELECT count(*) FROM work_plane.items m FULL JOIN bench.{t} b USING (workspace_slug, plane_id)
 WHERE (m.workspace_slug = %s OR b.workspace_slug = %s) AND coalesce(m.item_type, 'issue') = 'issue'
   AND (m.plane_id IS NULL OR b.plane_id IS NULL OR m.name IS DISTINCT FROM b.name
        OR m.state_plane_id IS DISTINCT FROM b.state_plane_id
        OR m.assignee_ids IS DISTINCT FROM b.assignee_ids OR m.label_ids IS DISTINCT FROM b.label_ids
        OR m.plane_updated_at IS DISTINCT FROM b.plane_updated_at
        OR m.start_date IS DISTINCT FROM b.start_date OR m.raw IS DISTINCT FROM b.raw)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--projects", type=int, default=10)
    ap.add_argument("--items-per-project", type=int, default=2000)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--max-wait-quiet", type=float, default=60,
                    help="before each timed run, wait up to this many seconds for other processes "
                         "to leave the CPUs (nearly) idle (default 60; --quick: 0)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="first syncs and floor runs, alternating; the best of each counts (default 3; "
                         "--quick: 1)")
    ap.add_argument("--quick", action="store_true", help="2 projects x 200 items (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.projects, args.items_per_project, args.max_wait_quiet, args.rounds = 2, 200, 0, 1
    total = args.projects * args.items_per_project
    conf = [f"plane.page_size = {args.page_size}", "plane.rate_limit_per_minute = 0",
            "plane.sync_pages = off", "plane.launcher_naptime = 1", "plane.poll_interval = 86400"]

    def timed(fn, *a, **kw):
        """Waits for a quiet machine, runs fn, and adds the CPU others used meanwhile."""
        bl.wait_quiet(args.max_wait_quiet)
        with bl.OtherLoad() as load:
            res = fn(*a, **kw)
        res["other_load"] = load.stop()
        return res

    with bl.Stack() as st:
        tmp = tempfile.mkdtemp(prefix="plane_bench_")
        st.callback(lambda: __import__("shutil").rmtree(tmp, ignore_errors=True))
        sim = st.simulator("--rate-limit", "0")
        seed = dict(tz="+05:30", api_key=API_KEY, seed=1, projects=args.projects,
                    items_per_project=args.items_per_project, archived_items_per_project=0,
                    draft_items_per_project=0)
        sim.seed(workspace=SLUG, **seed)
        bodies, item_pages, ext_requests = capture(sim.url, API_KEY, SLUG, args.page_size)

        cluster = st.cluster(conf)
        conn = st.connect(cluster)
        bl.setup_extension(conn)
        # The static server must answer every request the extension's first sync makes (the lists
        # above and whatever else it reads: cycle and module members, ...): a rehearsal against the
        # simulator records them, and each is captured from the simulator as it answered.
        ext_bodies = rehearse(conn, sim, API_KEY)
        bodies.update(ext_bodies)
        pages_file = os.path.join(tmp, "pages.json")
        with open(pages_file, "w", encoding="utf-8") as f:
            json.dump(bodies, f)
        _, static_url = start_static(st, pages_file, API_KEY)

        # How fast each server alone serves the pages (one curl process, keep-alive).
        cfgs = {}
        for server, base in (("sim", sim.url), ("static", static_url)):
            cfgs[f"{server}_items"] = curl_config(base, item_pages, os.path.join(tmp, f"{server}_items.cfg"))
            cfgs[f"{server}_all"] = curl_config(base, list(bodies), os.path.join(tmp, f"{server}_all.cfg"))
        item_bytes = sum(len(bodies[p].encode("utf-8")) for p in item_pages)
        bl.wait_quiet(args.max_wait_quiet)
        serve = {name: curl_fetch_seconds(cfg, API_KEY) for name, cfg in cfgs.items()}

        scalar(conn, "CREATE SCHEMA bench")
        for t in ("items_a", "items_b"):
            scalar(conn, f"CREATE TABLE bench.{t} (LIKE work_plane.items INCLUDING ALL)")
        machine = bl.machine(conn)

        # The extension's first sync and the floor (b), --rounds times each (alternating; the best
        # of each counts: the machine is shared); (a), ten times slower than either, runs once.
        ext_rounds, bare_rounds, b_rounds = [], [], []
        static_stats(static_url, reset=True)
        a = timed(baseline_row_by_row, cluster, static_url, API_KEY, SLUG, args.page_size)
        a_static = static_stats(static_url)
        for r in range(args.rounds):
            if r > 0:
                scalar(conn, "SELECT work_plane.remove_installation(%s)", (SLUG,))
                scalar(conn, "TRUNCATE bench.items_b")
                scalar(conn, "VACUUM ANALYZE work_plane.items, bench.items_b")
            static_stats(static_url, reset=True)
            ext = timed(bl.add_installation_and_sync, conn, static_url)
            ext["rows"] = scalar(conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = %s "
                                       "AND item_type = 'issue'", (SLUG,))
            ext["cpu_s"] = ext["worker_cpu_s"]
            ext["static"] = static_stats(static_url)
            ext_rounds.append(ext)
            # The same first sync without the search and history triggers (as the floor's table).
            scalar(conn, "SELECT work_plane.remove_installation(%s)", (SLUG,))
            scalar(conn, "VACUUM ANALYZE work_plane.items")
            scalar(conn, "ALTER TABLE work_plane.items DISABLE TRIGGER USER")
            try:
                static_stats(static_url, reset=True)
                bare = timed(bl.add_installation_and_sync, conn, static_url)
                bare["static"] = static_stats(static_url)
            finally:
                scalar(conn, "ALTER TABLE work_plane.items ENABLE TRIGGER USER")
            bare["rows"] = scalar(conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = %s "
                                        "AND item_type = 'issue'", (SLUG,))
            bare["cpu_s"] = bare["worker_cpu_s"]
            bare_rounds.append(bare)
            static_stats(static_url, reset=True)
            b = timed(baseline_floor, cluster, cfgs["static_items"], API_KEY, SLUG)
            b["static"] = static_stats(static_url)
            b_rounds.append(b)
        ext = min(ext_rounds, key=lambda r: r["seconds"])
        bare = min(bare_rounds, key=lambda r: r["seconds"])
        b = min(b_rounds, key=lambda r: r["seconds"])
        ext_static = {k: sum(r["static"][k] for r in ext_rounds + bare_rounds) for k in ("served", "missing")}
        base_static = {k: a_static[k] + sum(r["static"][k] for r in b_rounds) for k in ("served", "missing")}

        mismatch_a = scalar(conn, MISMATCH_SQL.format(t="items_a"), (SLUG, SLUG))
        mismatch_b = scalar(conn, MISMATCH_SQL.format(t="items_b"), (SLUG, SLUG))

        # For reference: the extension against the simulator itself, the same first sync in a cluster
        # of its own (a second workspace in the same cluster would be a different case: see
        # bench/second_workspace.py).
        sim_ext = None
        if not args.quick:
            cluster2 = st.cluster(conf)
            conn2 = st.connect(cluster2)
            bl.setup_extension(conn2)
            sim_ext = timed(bl.add_installation_and_sync, conn2, sim.url)
            sim_ext["rows"] = sim_ext["details"].get("work_items", 0)
            sim_ext["cpu_s"] = sim_ext["worker_cpu_s"]
            conn2.close()
            cluster2.cleanup()

    # ---------------------------------------------------------------- report
    n_item_pages = len(item_pages)
    print(f"# Backfill throughput: {args.projects} projects x {args.items_per_project:,} work items "
          f"= {total:,}, per_page {args.page_size}, no rate limit")
    print()
    print(machine)
    print(f"pages: {n_item_pages} work-item pages ({item_bytes / 1e6:.1f} MB); the extension's first sync "
          f"makes {ext['details'].get('requests')} requests (projects, then per project states, labels, "
          f"cycles, archived cycles, modules, archived modules, work items, and the work items of each "
          f"cycle and module); the baselines fetch the projects and the work-item pages only")
    print()
    print("## The servers alone (one curl process, keep-alive, best of 3)")
    print()
    rows = []
    for label, key in (("simulator (test/simulator/plane_sim.py)", "sim"),
                       ("static server (bench/static_plane.py)", "static")):
        it, al = serve[f"{key}_items"], serve[f"{key}_all"]
        rows.append([label, f"{it:.3f}", num(n_item_pages / it), num(total / it),
                     f"{al:.3f}", num(len(bodies) / al)])
    bl.table(["server", f"{n_item_pages} work-item pages (s)", "pages/s", "items/s",
              f"all {len(bodies)} pages (s)", "pages/s"], rows)
    rate = {k: r["rows"] / r["seconds"] for k, r in (("ext", ext), ("a", a), ("b", b))}
    print("## Backfill from the static server")
    print()
    best = " (best round)" if args.rounds > 1 else ""
    contenders = [(f"extension: first sync (add_installation → summary row){best}", ext),
                  (f"extension, search and history triggers disabled{best}", bare),
                  ("(a) Python, row-by-row upsert, commit per page", a),
                  (f"(b) floor: curl → COPY, one INSERT … ON CONFLICT{best}", b)]
    if sim_ext:
        contenders.append(("extension, from the simulator instead (reference)", sim_ext))
    rows = []
    if args.rounds > 1:
        contenders = ([(f"extension, round {i + 1}", r) for i, r in enumerate(ext_rounds)]
                      + [(f"extension without the triggers, round {i + 1}", r) for i, r in enumerate(bare_rounds)]
                      + [(f"(b), round {i + 1}", r) for i, r in enumerate(b_rounds)] + contenders)
    for label, r in contenders:
        rt = r["rows"] / r["seconds"]
        rows.append([label, num(r["rows"]), f"{r['seconds']:.2f}", num(rt), f"{r['cpu_s']:.2f}",
                     f"{1000 * r['cpu_s'] / max(r['rows'], 1):.3f}", f"{r['other_load']:.2f}",
                     times(rt / rate["ext"]), times(rt / rate["a"]), times(rt / rate["b"])])
    bl.table(["contender", "work items", "seconds", "items/s", "CPU s", "CPU ms / 1000 items",
              "other load (cores)", "÷ extension", "÷ (a)", "÷ (b)"], rows)
    d = ext["details"]
    print("CPU s: the sync worker (extension); the script and its backend (a); curl, the script and "
          "its backend (b). Other load: CPU used meanwhile by processes outside the benchmark, in cores.")
    print(f"extension run: {d.get('requests')} requests, {d.get('pages')} pages, duration_ms "
          f"{d.get('duration_ms')} by the worker's clock; static server answered {ext_static['served']} "
          f"(all rounds), "
          f"missed {ext_static['missing']}")
    print(f"baselines: (a) made {a['requests']} requests; static server answered {base_static['served']} "
          f"(all rounds), "
          f"missed {base_static['missing']}; rows differing from the extension's mirror: "
          f"(a) {mismatch_a}, (b) {mismatch_b}")
    print()
    # (a) and (b) write tables without triggers: like for like is the extension without them.
    t1 = bare["rows"] / bare["seconds"] >= 3 * rate["a"]
    t2 = bare["seconds"] <= 1.5 * b["seconds"]
    t3 = ext["seconds"] <= 1.15 * bare["seconds"]
    bl.table(["target", "figure", "result"], [
        ["extension (triggers disabled, as (a)'s and (b)'s tables) ≥ 3× (a) (items/s)",
         times(bare["rows"] / bare["seconds"] / rate["a"]), bl.verdict(t1)],
        ["extension (triggers disabled) within 1.5× of (b) (its time ÷ (b)'s time ≤ 1.5)",
         times(bare["seconds"] / b["seconds"]), bl.verdict(t2)],
        ["extension with search and history within 15% of it without them (time ÷ time ≤ 1.15)",
         times(ext["seconds"] / bare["seconds"]), bl.verdict(t3)],
        ["(for reference) extension with search and history ÷ (b)'s time", times(ext["seconds"] / b["seconds"]),
         ""],
    ])
    ok = (all(r["rows"] == total for r in ext_rounds + bare_rounds + b_rounds) and a["rows"] == total
          and ext_static["missing"] == 0
          and base_static["missing"] == 0 and mismatch_a == 0 and mismatch_b == 0)
    if not ok:
        print("SANITY CHECK FAILED: row counts, missing pages or mirror contents differ", file=sys.stderr)
    return 0 if ok else 1


def num(x):
    return bl.num(x)


def times(x):
    return bl.times(x)


if __name__ == "__main__":
    bl.main_wrapper(main)
