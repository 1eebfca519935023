#!/usr/bin/env python3
"""Embedded receiver, end to end: signed deliveries per second through POST /plane/webhook/{slug}
with 16 concurrent keep-alive HTTP clients, and p99 latency at a fixed 500 deliveries/s, against
the same deliveries posted to a minimal HTTP server that only INSERTs them (the baseline).

N distinct signed v2 `work_item.updated` deliveries (each its own event_id, so each is enqueued,
never deduplicated; HMAC-SHA256 hex of the body with the secret stored in Vault as
'plane_webhook_secret:bench', header X-Plane-Signature) are rendered up front as complete HTTP
requests. The client is bench/native/http_load.cpp (one thread, epoll, keep-alive): closed-loop
for throughput, open-loop at a fixed rate for latency (latency from the time each request was
due). The baseline is bench/native/insert_server.cpp: libmicrohttpd in the same single-threaded
epoll loop as the receiver, one autocommit INSERT of the body as jsonb into a copy of
ops.event_queue per request over one unix-socket libpq connection, no signature check. Both are
built by this script (g++ -O2). The queue worker is off: only intake is measured. Rounds alternate
receiver and baseline, emptying both queues before every run; the best round of each counts.

Targets: receiver >= 3,000 deliveries/s with 16 clients; p99 <= 10 ms at 500 deliveries/s.

    /usr/bin/python3 bench/receiver_throughput.py [--deliveries 30000] [--connections 16]
        [--rate 500] [--rate-seconds 10] [--rounds 3] [--quick]
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

import benchlib as bl
from benchlib import API_KEY, SLUG, WEBHOOK_SECRET, scalar
from harness import free_port, wait_until

NATIVE = bl.BENCH / "native"
BUILD = bl.ROOT / "build" / "bench"


def build_native():
    """Compiles the client and the baseline server when their sources are newer than the binaries."""
    includedir = subprocess.check_output(["pg_config", "--includedir"], text=True).strip()
    BUILD.mkdir(parents=True, exist_ok=True)
    for name, extra in (("http_load", []), ("insert_server", [f"-I{includedir}", "-lmicrohttpd", "-lpq"])):
        src, out = NATIVE / f"{name}.cpp", BUILD / name
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            subprocess.run(["g++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-o", str(out), str(src)] + extra,
                           check=True)
    return BUILD / "http_load", BUILD / "insert_server"


def write_requests(path, deliveries):
    """Each delivery as one complete HTTP/1.1 request, length-prefixed (http_load's input)."""
    with open(path, "wb") as f:
        for d in deliveries:
            body = d["body"].encode("utf-8")
            head = f"POST /plane/webhook/{SLUG} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in d["headers"].items()) + f"Content-Length: {len(body)}\r\n\r\n"
            request = head.encode() + body
            f.write(struct.pack("<I", len(request)) + request)


def http_load(client, port, requests, count, connections, rate=None):
    argv = [str(client), "--port", str(port), "--requests", requests, "--count", str(count),
            "--connections", str(connections)]
    if rate:
        argv += ["--rate", str(rate)]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"http_load failed: {out.stderr}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deliveries", type=int, default=30000, help="requests per throughput run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rate", type=float, default=500, help="deliveries/s of the latency run")
    ap.add_argument("--rate-seconds", type=float, default=10, help="length of the latency run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-wait-quiet", type=float, default=60,
                    help="before each timed run, wait up to this many seconds for other processes "
                         "to leave the CPUs (nearly) idle (default 60; --quick: 0)")
    ap.add_argument("--perf", metavar="FILE",
                    help="record the receiver's profile (perf record -g, Debian's linux-perf) during its "
                         "first throughput run into FILE; read it with perf report -i FILE")
    ap.add_argument("--quick", action="store_true", help="600 deliveries, 1 s at the rate, one round")
    args = ap.parse_args()
    if args.quick:
        args.deliveries, args.rate_seconds, args.rounds, args.max_wait_quiet = 600, 1, 1, 0
    rate_count = int(args.rate * args.rate_seconds)
    n = max(args.deliveries, rate_count)

    client, server = build_native()
    with bl.Stack() as st:
        tmp = tempfile.mkdtemp(prefix="plane_bench_")
        st.callback(lambda: shutil.rmtree(tmp, ignore_errors=True))
        sim = st.simulator("--rate-limit", "0")
        seed = dict(workspace=SLUG, projects=1, items_per_project=50, tz="+05:30", api_key=API_KEY, seed=1)
        sim.seed(**seed)
        receiver_port, baseline_port = free_port(), free_port()
        cluster = st.cluster(["plane.rate_limit_per_minute = 0", "plane.sync_pages = off",
                              "plane.poll_interval = 86400",
                              f"plane.webhook_listen_address = '127.0.0.1:{receiver_port}'",
                              # all 16 clients come from 127.0.0.1: room above the default 16
                              "plane.webhook_max_connections_per_ip = 32"])
        conn = st.connect(cluster)
        bl.setup_extension(conn, webhook_secret=WEBHOOK_SECRET)
        machine = bl.machine(conn)
        bl.add_installation_and_sync(conn, sim.url)
        bl.set_queue_worker(conn, False)
        scalar(conn, "CREATE SCHEMA bench")
        scalar(conn, "CREATE TABLE bench.event_queue (LIKE ops.event_queue INCLUDING ALL)")

        deliveries = bl.v2_update_deliveries(n, seed)
        body_bytes = sum(len(d["body"]) for d in deliveries) / n
        requests = os.path.join(tmp, "requests.bin")
        write_requests(requests, deliveries)

        receiver_pid = wait_until(lambda: scalar(
            conn, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'plane_connector webhook receiver'"),
            message="the webhook receiver")
        proc = st.process([str(server), "--port", str(baseline_port), "--conninfo",
                           f"host={cluster.dir} port={cluster.port} dbname={cluster.dbname} user=postgres "
                           "application_name=bench_insert_server"],
                          stdout=subprocess.PIPE, text=True)
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the baseline server did not start")
        baseline_backend = scalar(conn, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                        "'bench_insert_server'")
        sides = {"receiver": {"port": receiver_port, "table": "ops.event_queue", "pids": [receiver_pid]},
                 "baseline": {"port": baseline_port, "table": "bench.event_queue",
                              "pids": [proc.pid, baseline_backend]}}

        def run(side, count, rate=None, perf=None):
            s = sides[side]
            scalar(conn, f"TRUNCATE {s['table']}")
            scalar(conn, f"VACUUM ANALYZE {s['table']}")
            scalar(conn, "CHECKPOINT")
            bl.wait_quiet(args.max_wait_quiet)
            cpu0 = sum(bl.oncpu_ns(p) or 0 for p in s["pids"])
            recorder = None
            if perf:
                recorder = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o", perf,
                                             "-p", str(receiver_pid)], stderr=subprocess.DEVNULL)
                wait_until(lambda: os.path.exists(perf), message="perf to start")
            with bl.OtherLoad() as load:
                res = http_load(client, s["port"], requests, count, args.connections, rate)
            if recorder:
                recorder.send_signal(signal.SIGINT)
                recorder.wait(60)
            res["other_load"] = load.stop()
            res["server_cpu_us"] = (sum(bl.oncpu_ns(p) or 0 for p in s["pids"]) - cpu0) / 1e3 / count
            res["client_cores"] = res["client_cpu_s"] / res["seconds"]
            res["rows"] = scalar(conn, f"SELECT count(*) FROM {s['table']} WHERE status = 'pending'")
            res["sane"] = (res["rows"] == count and res["errors"] == 0
                           and res["statuses"] == {"200": count})
            return res

        for side in sides:  # warm-up (caches, plans, the receiver's secret), not counted
            run(side, min(500, n))
        results = {(side, kind): [] for side in sides for kind in ("max", "rate")}
        for r in range(args.rounds):
            for side in sides:
                perf = args.perf if r == 0 and side == "receiver" else None
                results[(side, "max")].append(run(side, args.deliveries, perf=perf))
            for side in sides:
                results[(side, "rate")].append(run(side, rate_count, args.rate))

    print(f"# Embedded receiver: {args.deliveries:,} distinct signed v2 deliveries ({body_bytes:,.0f} bytes "
          f"each on average) over {args.connections} keep-alive connections; then {rate_count:,} at "
          f"{args.rate:,.0f}/s; {args.rounds} round(s)")
    print()
    print(machine)
    print(f"the machine's {os.cpu_count()} cores are shared by the client (http_load), the server under test "
          "and Postgres, and by whatever else runs on this machine (the 'other load' column); the "
          "queue worker is off; fsync = off (as in every benchmark here)")
    print()
    labels = {"receiver": "embedded receiver (HMAC, dedup, enqueue; one transaction each)",
              "baseline": "minimal libmicrohttpd + libpq server: INSERT only (baseline)"}
    for kind, title in (("max", f"## Throughput: closed loop, {args.connections} keep-alive clients"),
                        ("rate", f"## Latency at a fixed {args.rate:,.0f} deliveries/s (open loop)")):
        print(title)
        print()
        rows = []
        for side in sides:
            for i, r in enumerate(results[(side, kind)]):
                rows.append([labels[side], i + 1, bl.num(r["per_second"]), f"{r['p50_ms']:.2f}",
                             f"{r['p99_ms']:.2f}", f"{r['max_ms']:.1f}", bl.num(r["server_cpu_us"]),
                             f"{r['client_cores']:.2f}", f"{r['other_load']:.2f}", f"{r['rows']:,}"])
        bl.table(["server", "round", "deliveries/s", "p50 (ms)", "p99 (ms)", "max (ms)",
                  "server CPU per delivery (µs)", "client CPU (cores)", "other load (cores)",
                  "rows queued"], rows)

    best = {side: max(results[(side, "max")], key=lambda r: r["per_second"]) for side in sides}
    lat = {side: min(results[(side, "rate")], key=lambda r: r["p99_ms"]) for side in sides}
    ratio = best["receiver"]["per_second"] / best["baseline"]["per_second"]
    print(f"best throughput: receiver {best['receiver']['per_second']:,.0f}/s, baseline "
          f"{best['baseline']['per_second']:,.0f}/s → the receiver reaches {bl.pct(ratio)} of the baseline")
    print(f"best p99 at {args.rate:,.0f}/s: receiver {lat['receiver']['p99_ms']:.2f} ms (p50 "
          f"{lat['receiver']['p50_ms']:.2f}), baseline {lat['baseline']['p99_ms']:.2f} ms (p50 "
          f"{lat['baseline']['p50_ms']:.2f})")
    least = {side: min(r["server_cpu_us"] for r in results[(side, "max")]) for side in sides}
    print(f"server CPU per delivery, least of each: receiver {least['receiver']:,.0f} µs (one process: HTTP and "
          f"the transaction), baseline {least['baseline']:,.0f} µs (server process + its backend)")
    print("server CPU: time on CPU of the serving processes (/proc/<pid>/schedstat) ÷ deliveries; client "
          "CPU: http_load's own user + system time ÷ the run's length")
    print()
    bl.table(["target", "figure", "result"],
             [["receiver ≥ 3,000 deliveries/s (16 clients)", bl.num(best["receiver"]["per_second"]),
               bl.verdict(best["receiver"]["per_second"] >= 3000)],
              [f"receiver p99 ≤ 10 ms at {args.rate:,.0f}/s", f"{lat['receiver']['p99_ms']:.2f} ms",
               bl.verdict(lat["receiver"]["p99_ms"] <= 10)],
              ["receiver ÷ baseline (deliveries/s)", bl.pct(ratio), "diagnostic"]])
    if not all(r["sane"] for rs in results.values() for r in rs):
        print("SANITY CHECK FAILED: not every delivery was answered 200 and queued once", file=sys.stderr)
        for key, rs in results.items():
            for r in rs:
                if not r["sane"]:
                    print(key, {k: r[k] for k in ("rows", "errors", "statuses")}, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    bl.main_wrapper(main)
