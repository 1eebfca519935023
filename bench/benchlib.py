"""Shared helpers of the benchmarks in bench/ (not a benchmark itself).

Each benchmark starts what it needs through test/integration/harness.py (a private Postgres run as
the `postgres` OS user with plane_connector preloaded, the local Plane simulator), registers how to
stop it on a Stack, measures, and prints markdown tables. The Stack stops everything in reverse
order when the script ends, also on an exception, Ctrl-C or SIGTERM.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "test" / "integration"))
sys.path.insert(0, str(ROOT / "test" / "simulator"))

from harness import (Cluster, Simulator, install_extension, query, scalar,  # noqa: E402,F401
                     wait_until)

API_KEY = "plane_api_bench0123456789abcdef012345"
WEBHOOK_SECRET = "plane_wh_bench0123456789abcdef0123456789"
SLUG = "bench"


def bindir():
    return subprocess.check_output(["pg_config", "--bindir"], text=True).strip()


class Stack(contextlib.ExitStack):
    """An ExitStack that also turns SIGTERM into SystemExit, so that cleanups run."""

    def __enter__(self):
        self._old_term = signal.signal(signal.SIGTERM, _raise_exit)
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            signal.signal(signal.SIGTERM, self._old_term)

    def simulator(self, *args):
        sim = Simulator(*args)
        self.callback(sim.stop)
        return sim

    def cluster(self, conf=(), preload=True, also_preload=()):
        cluster = Cluster(list(conf))
        if not preload:
            cluster.conf = [c for c in cluster.conf if not c.startswith("shared_preload_libraries")]
        elif also_preload:
            libs = ",".join(("plane_connector",) + tuple(also_preload))
            cluster.conf = [f"shared_preload_libraries = '{libs}'" if c.startswith("shared_preload_libraries")
                            else c for c in cluster.conf]
        self.callback(cluster.cleanup)
        cluster.start()
        OUR_ROOTS.append(postmaster_pid(cluster))
        return cluster

    def connect(self, cluster):
        conn = cluster.connect()
        self.callback(conn.close)
        return conn

    def process(self, argv, **kwargs):
        proc = subprocess.Popen(argv, **kwargs)
        self.callback(_stop_process, proc)
        return proc


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def _stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def setup_extension(conn, api_key=API_KEY, webhook_secret=None, slug=SLUG):
    """CREATE EXTENSION, the Vault fixture, and the workspace's secrets (no installation yet)."""
    install_extension(conn)
    scalar(conn, "SELECT vault.create_secret(%s, %s)", (api_key, f"plane_api_key:{slug}"))
    if webhook_secret:
        scalar(conn, "SELECT vault.create_secret(%s, %s)", (webhook_secret, f"plane_webhook_secret:{slug}"))
    wait_for_workers(conn)


def wait_for_workers(conn, timeout=30):
    """Waits until the launcher and the queue worker run (they start before the benchmark's database
    exists, fail, and are restarted a second later by the postmaster)."""
    return wait_until(lambda: query(conn, "SELECT work_plane.launcher_pid() AS launcher, "
                                          "work_plane.queue_worker_pid() AS queue")[0]
                      if scalar(conn, "SELECT work_plane.launcher_pid() IS NOT NULL AND "
                                      "work_plane.queue_worker_pid() IS NOT NULL") else None,
                      timeout=timeout, interval=0.05, message="launcher and queue worker")


def add_installation_and_sync(conn, api_url, slug=SLUG, timeout=600):
    """Registers the workspace (its first sync starts at once) and waits for that sync's summary
    row, sampling the sync worker's time on CPU every few ms while it runs. Returns a dict:
    seconds (add_installation to the summary row), details (the summary), worker_cpu_s."""
    before = scalar(conn, "SELECT coalesce(max(id), 0) FROM ops.run_events")
    t0 = time.monotonic()
    scalar(conn, "SELECT workspace_slug FROM work_plane.add_installation(%s, api_url => %s)", (slug, api_url))
    deadline = t0 + timeout
    pid, cpu_ns = None, 0
    while True:
        if pid is None:
            pid = scalar(conn, "SELECT worker_pid FROM work_plane.sync_state WHERE workspace_slug = %s", (slug,))
        if pid is not None:
            ns = oncpu_ns(pid)
            if ns is not None:
                cpu_ns = ns
        rows = query(conn, "SELECT action, details FROM ops.run_events WHERE id > %s AND workspace_slug = %s "
                           "AND action IN ('sync', 'sync_failed') ORDER BY id LIMIT 1", (before, slug))
        if rows:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no end of the first sync of {slug} after {timeout} s")
        time.sleep(0.003)
    elapsed = time.monotonic() - t0
    if rows[0]["action"] != "sync":
        raise RuntimeError(f"sync of {slug} failed: {rows[0]['details']}")
    return {"seconds": elapsed, "details": rows[0]["details"], "worker_pid": pid, "worker_cpu_s": cpu_ns / 1e9}


def v1_update_deliveries(n, seed_params, secret=WEBHOOK_SECRET, name_prefix="renamed"):
    """n signed v1 `issue` `updated` deliveries, exactly as the simulator (and Plane) sends them: the
    workspace is seeded in this process with the same parameters as the simulator's (so the ids are
    the same), and every work item in turn is renamed. Returns dicts with plane_id, project, name,
    headers (dict) and body (the exact signed text)."""
    import plane_sim
    ws = plane_sim.seed_workspace(dict(seed_params, webhook_secret=secret))
    items = [(pid, iid) for pid, d in ws.children["work_item"].items() for iid in d]
    out = []
    for i in range(n):
        pid, iid = items[i % len(items)]
        name = f"{name_prefix} {i}"
        _, deliveries = plane_sim.apply_change(ws, "update", "work_item", iid, pid, {"name": name})
        v1 = next(d for d in deliveries if d["version"] == "v1")
        out.append({"plane_id": iid, "project": pid, "name": name, "headers": v1["headers"],
                    "body": v1["body"]})
    return out


def v2_update_deliveries(n, seed_params, secret=WEBHOOK_SECRET):
    """n signed v2 `work_item.updated` deliveries as the simulator (and Plane) sends them, each with
    an event_id of its own (so each is enqueued, never deduplicated); work items are renamed in
    turn. Returns dicts with headers (dict) and body (the exact signed text)."""
    import plane_sim
    ws = plane_sim.seed_workspace(dict(seed_params, webhook_secret=secret))
    items = [(pid, iid) for pid, d in ws.children["work_item"].items() for iid in d]
    out = []
    for i in range(n):
        pid, iid = items[i % len(items)]
        _, deliveries = plane_sim.apply_change(ws, "update", "work_item", iid, pid, {"name": f"renamed {i}"})
        v2 = next(d for d in deliveries if d["version"] == "v2")
        out.append({"headers": v2["headers"], "body": v2["body"]})
    return out


def load_deliveries(conn, table, deliveries):
    """Creates `table` (id, headers jsonb, body text, delivery_id, event, idempotency_key) and loads
    the deliveries, ids 1..n."""
    import psycopg2.extras
    scalar(conn, f"CREATE TABLE {table} (id int PRIMARY KEY, headers jsonb NOT NULL, body text NOT NULL, "
                 "delivery_id text, event text, idempotency_key text, plane_id text, name text)")
    rows = [(i + 1, json.dumps(d["headers"]), d["body"], d["headers"].get("X-Plane-Delivery"),
             d["headers"].get("X-Plane-Event"), "plane:event:bench:" + d["headers"].get("X-Plane-Delivery", str(i)),
             d["plane_id"], d["name"]) for i, d in enumerate(deliveries)]
    cur = conn.cursor()
    psycopg2.extras.execute_values(cur, f"INSERT INTO {table} VALUES %s", rows, page_size=2000)
    scalar(conn, f"VACUUM ANALYZE {table}")


def set_queue_worker(conn, on):
    """ALTER SYSTEM SET plane.queue_worker and reload; returns once the setting is visible."""
    scalar(conn, f"ALTER SYSTEM SET plane.queue_worker = {'on' if on else 'off'}")
    scalar(conn, "SELECT pg_reload_conf()")


# ------------------------------------------------------------------------------------------------
# Processes

def cpu_seconds(pid):
    """utime + stime of a process from /proc/<pid>/stat (clock ticks, usually 10 ms), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def oncpu_ns(pid):
    """Time on CPU in nanoseconds from /proc/<pid>/schedstat (exact, unlike the ticks), or None."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def ctx_switches(pid):
    """(voluntary, involuntary) context switches of a process: each sleep of a worker on its latch
    ends in one voluntary switch, so their count is the number of times it went to sleep."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    out[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return out.get("voluntary_ctxt_switches", 0), out.get("nonvoluntary_ctxt_switches", 0)


def children_of(pid):
    """Direct children of a process (the postmaster's are all the cluster's processes)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def reaped_children_cpu_seconds(pid):
    """CPU of a process's children that have exited and been reaped (cutime + cstime): for a
    postmaster, the CPU of every backend that has ended, whatever the machine's throughput."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU used by the backends of the connections opened inside the block (pgbench's), read from
    the postmaster once they have exited: a per-call cost that does not depend on how fast the
    shared machine happened to be, unlike calls per second."""

    def __init__(self, cluster, deadline=30.0):
        self.pm = postmaster_pid(cluster)
        self.deadline = deadline

    def __enter__(self):
        self.children0 = len(children_of(self.pm))
        self.cpu0 = reaped_children_cpu_seconds(self.pm)
        return self

    def __exit__(self, *exc):
        end = time.monotonic() + self.deadline
        while len(children_of(self.pm)) > self.children0 and time.monotonic() < end:
            time.sleep(0.05)  # polling for the backends to exit (a condition, with a deadline)
        self.seconds = reaped_children_cpu_seconds(self.pm) - self.cpu0


def postmaster_pid(cluster):
    with open(os.path.join(cluster.dir, "data", "postmaster.pid")) as f:
        return int(f.readline())


# ------------------------------------------------------------------------------------------------
# Other work on the machine. The machine may be shared (other sessions build and test on it): CPU
# used by processes that are not the benchmark's is measured for every timed section and reported,
# and a benchmark can wait for the machine to be quiet before a timed section.

OUR_ROOTS = [os.getpid()]  # this script (with its children: simulator, curl, pgbench) + postmasters


def _proc_table():
    """pid -> (ppid, utime+stime+cutime+cstime in ticks) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[int(d)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return out


def _busy_ticks():
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]


def _ours_ticks(table):
    """CPU of our process trees: a process's own time plus its reaped children's, so processes
    that exit between two snapshots stay counted (in their parent)."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack, seen = 0, [r for r in OUR_ROOTS if r in table], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += table[pid][1]
        stack.extend(children.get(pid, ()))
    return total


class OtherLoad:
    """CPU used by processes other than the benchmark's during a timed section, in cores (1.0 = one
    core busy the whole time)."""

    def __enter__(self):
        self.t0 = time.monotonic()
        self.busy0, self.ours0 = _busy_ticks(), _ours_ticks(_proc_table())
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if hasattr(self, "cores"):
            return self.cores
        dt = time.monotonic() - self.t0
        busy, ours = _busy_ticks() - self.busy0, _ours_ticks(_proc_table()) - self.ours0
        self.cores = max(0.0, (busy - ours) / os.sysconf("SC_CLK_TCK") / max(dt, 1e-3))
        return self.cores


def wait_quiet(max_wait=60.0, threshold=0.25, window=2.0):
    """Waits until other processes used less than `threshold` cores over `window` seconds (or
    max_wait passed). Returns (seconds waited, last load seen)."""
    if max_wait <= 0:
        return 0.0, None
    t0 = time.monotonic()
    while True:
        with OtherLoad() as load:
            time.sleep(window)
        if load.cores < threshold or time.monotonic() - t0 >= max_wait:
            return time.monotonic() - t0, load.cores


# ------------------------------------------------------------------------------------------------
# Reporting

def machine(conn):
    """One line: cores, memory, Postgres version."""
    with open("/proc/meminfo") as f:
        mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    version = scalar(conn, "SHOW server_version")
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    build = ""
    try:
        lib = os.path.join(subprocess.check_output(["pg_config", "--pkglibdir"], text=True).strip(),
                           "plane_connector.so")
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(lib)))
        build = f"; plane_connector.so installed {built}, repository at {head or '?'}"
    except (OSError, subprocess.SubprocessError):
        pass
    return (f"machine: {os.cpu_count()} cores{f' ({model})' if model else ''}, "
            f"{mem_kib / 1024 / 1024:.1f} GiB memory, PostgreSQL {version}{build}")


def table(headers, rows):
    """Prints a markdown table; numeric-looking columns are right-aligned."""
    def numeric(col):
        cells = [str(r[col]) for r in rows if str(r[col]) not in ("", "-")]
        return bool(cells) and all(c.replace(",", "").replace(".", "").replace("%", "").replace("×", "")
                                   .replace("-", "").replace(" ", "").replace("≤", "").replace("≥", "")
                                   .isdigit() for c in cells)
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---:" if numeric(i) else "---" for i in range(len(headers))) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


def num(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def times(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}×"


def pct(x, digits=1):
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def verdict(ok):
    return "met" if ok else "MISSED"


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def main_wrapper(main):
    """Runs main() and exits with its code; a failure prints the traceback and exits 1 (after the
    Stack in main has stopped everything)."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    sys.exit(code or 0)
