#!/usr/bin/env python3
"""Where the time of one webhook delivery goes: single-client pgbench latency of ingest_webhook
cut short at each stage (a refused slug, an unknown workspace, a bad signature) next to the plain
INSERT baseline of webhook_ingest.py. Each stage's figure minus the previous one is that stage's
cost; the last table gives each as a share of a whole delivery and the whole as a ratio of the
baseline. Single client: latency, not throughput under CPU contention (webhook_ingest.py).
Since a backend reuses a workspace's secret (plane.webhook_secret_cache), the stages are not
nested: a refused signature reads the secret again (a new one may have been stored), while an
accepted delivery reuses it. So the last stage can cost less than the one before it."""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import scalar  # noqa: E402

SLUG = "bench"


def pgbench_latency_ms(cluster, sql, n):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    out = subprocess.run([os.path.join(bl.bindir(), "pgbench"), "-n", "-M", "prepared", "-c", "1", "-t", str(n),
                          "-f", f.name, "-h", cluster.dir, "-p", str(cluster.port), "-U", "postgres",
                          cluster.dbname], capture_output=True, text=True)
    os.unlink(f.name)
    for line in out.stdout.splitlines():
        if line.startswith("latency average"):
            return float(line.split("=")[1].split()[0])
    raise RuntimeError(f"pgbench failed:\n{out.stdout}{out.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=4000)
    ap.add_argument("--quick", action="store_true", help="300 calls per stage (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.calls = 300
    n = args.calls
    with bl.Stack() as st:
        sim = st.simulator("--rate-limit", "0")
        sim.seed(workspace=SLUG, projects=1, items_per_project=10, tz="+05:30", api_key=bl.API_KEY, seed=1)
        cluster = st.cluster(["plane.rate_limit_per_minute = 0", "plane.sync_pages = off",
                              "plane.poll_interval = 86400", "plane.queue_worker = off"])
        conn = st.connect(cluster)
        bl.setup_extension(conn, webhook_secret=bl.WEBHOOK_SECRET)
        bl.add_installation_and_sync(conn, sim.url)
        projects = max(1, (2 * n) // 2000)
        deliveries = bl.v1_update_deliveries(2 * n, dict(workspace=SLUG, projects=projects,
                                                         items_per_project=-(-2 * n // projects), tz="+05:30",
                                                         api_key=bl.API_KEY, seed=1))
        scalar(conn, "CREATE SCHEMA bench")
        bl.load_deliveries(conn, "bench.deliveries", deliveries)
        scalar(conn, "CREATE TABLE bench.event_queue (LIKE ops.event_queue INCLUDING ALL)")
        row = "FROM bench.deliveries d WHERE d.id = (SELECT nextval('bench.{s}'))"
        stages = [
            ("fetch the delivery row only (pgbench round trip, detoast)", "SELECT length(d.body), d.headers " + row),
            ("+ the call (SECURITY DEFINER, arguments), slug refused by syntax",
             "SELECT work_plane.ingest_webhook('bad slug', d.headers, d.body) " + row),
            ("+ installation and secret lookup (one statement; an unknown workspace is never reused), unknown workspace",
             "SELECT work_plane.ingest_webhook('nosuch', d.headers, d.body) " + row),
            ("+ headers parsed, HMAC over the body, refused: the reused secret is read again and checked again, refused",
             "SELECT work_plane.ingest_webhook('bench', d.headers || '{\"X-Plane-Signature\": \"00\"}', d.body) " + row),
            ("a whole delivery: reused secret, HMAC once, body parsed (jsonb_in), envelope, key, INSERT (heap, indexes, WAL)",
             "SELECT work_plane.ingest_webhook('bench', d.headers, d.body) " + row),
        ]
        baseline_sql = ("INSERT INTO bench.event_queue (source, idempotency_key, workspace_slug, event_type, "
                        "delivery_id, payload, status) SELECT 'plane', d.idempotency_key, 'bench', d.event, "
                        "d.delivery_id, d.body::jsonb, 'pending' " + row)
        results = []
        for i, (label, sql) in enumerate(stages):
            scalar(conn, f"CREATE SEQUENCE bench.s{i}")
            results.append((label, pgbench_latency_ms(cluster, sql.replace("{s}", f"s{i}") + ";\n", n)))
        scalar(conn, "CREATE SEQUENCE bench.base")
        base = pgbench_latency_ms(cluster, baseline_sql.replace("{s}", "base") + ";\n", n)
        print(f"# Webhook ingest, stage by stage ({n:,} calls per stage, pgbench -M prepared -c 1)\n")
        print(bl.machine(conn))
        print("\n| stage | latency (ms) | this stage (ms) | share of a delivery |")
        print("|---|---:|---:|---:|")
        whole = results[-1][1]
        prev = 0.0
        for label, ms in results:
            print(f"| {label} | {ms:.3f} | {ms - prev:.3f} | {100 * (ms - prev) / whole:.0f}% |")
            prev = ms
        print(f"| baseline: plain INSERT of the same row into a copy of ops.event_queue | {base:.3f} | "
              f"{base - results[0][1]:.3f} (beyond the fetch) | |")
        print(f"\nsingle-client rate of ingest_webhook ÷ the baseline's: {base / whole:.1%}")


if __name__ == "__main__":
    main()
