"""Shared fixtures of the integration tests: a private Postgres cluster with plane_connector
preloaded, the local Plane simulator, and polling helpers (tests wait on conditions with
deadlines, never on sleeps)."""
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2
import psycopg2.extras

ROOT = Path(__file__).resolve().parents[2]
PG_LIB = ROOT / "test" / "lib" / "pgcluster.sh"
SIMULATOR = ROOT / "test" / "simulator" / "plane_sim.py"
VAULT_FIXTURE = ROOT / "test" / "fixtures" / "vault_fixture.sql"
PG_USER = os.environ.get("PLANE_PG_USER", "postgres")


def wait_until(predicate, timeout=30.0, interval=0.05, message="condition"):
    """Polls predicate() until it returns a truthy value, which is returned; fails after timeout.
    PLANE_TEST_TIMEOUT_SCALE stretches every deadline (a server under valgrind is ~30× slower)."""
    timeout *= float(os.environ.get("PLANE_TEST_TIMEOUT_SCALE", "1"))
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")


def _shell_lib(command):
    subprocess.run(["bash", "-c", f"source {shlex.quote(str(PG_LIB))}; {command}"], check=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throwaway cluster run as an unprivileged user on a private port and socket directory."""

    def __init__(self, conf=None, dbname="plane_test"):
        self.dir = tempfile.mkdtemp(prefix="plane_it_")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.dbname = dbname
        self.conf = [
            "shared_preload_libraries = 'plane_connector'",
            f"plane.database = '{dbname}'",
            # The simulator listens on loopback: credentials may go there (and to Plane Cloud).
            "plane.allowed_hosts = 'api.plane.so, mcp.plane.so, 127.0.0.1'",
        ] + list(conf or [])
        self.started = False

    def start(self):
        lines = " ".join(shlex.quote(line) for line in self.conf)
        _shell_lib(f"pgcluster_start {shlex.quote(self.dir)} {self.port} {lines}")
        self.started = True
        conn = self.connect("postgres")
        try:
            conn.cursor().execute(f'CREATE DATABASE "{self.dbname}"')
        finally:
            conn.close()
        return self

    def stop(self):
        if self.started:
            _shell_lib(f"pgcluster_stop {shlex.quote(self.dir)}")
            self.started = False

    def cleanup(self):
        self.stop()
        if os.environ.get("PLANE_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def pg_ctl(self, *args):
        cmd = [os.path.join(_bindir(), "pg_ctl"), "-D", os.path.join(self.dir, "data"), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", PG_USER, "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def restart(self, mode="fast"):
        self.pg_ctl("-m", mode, "-w", "-t", "60", "-l", os.path.join(self.dir, "server.log"), "restart")

    def connect(self, dbname=None):
        conn = psycopg2.connect(host=self.dir, port=self.port, user="postgres",
                                dbname=dbname or self.dbname)
        conn.autocommit = True
        return conn

    def server_log(self):
        with open(os.path.join(self.dir, "server.log"), encoding="utf-8", errors="replace") as f:
            return f.read()


def _bindir():
    return subprocess.check_output(["pg_config", "--bindir"], text=True).strip()


def pg_tool(name, *args):
    """Runs a Postgres program (pg_dump, pg_basebackup, psql, ...) as the unprivileged server user
    when the tests run as root; its standard output as text. Fails the test on a non-zero exit."""
    cmd = [os.path.join(_bindir(), name), *args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", PG_USER, "--"] + cmd
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Simulator:
    """The local Plane API simulator (test/simulator/plane_sim.py) as a subprocess on loopback."""

    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="plane_sim_")
        port_file = os.path.join(self.tmp, "port")
        self.log = open(os.path.join(self.tmp, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(SIMULATOR), "--port", "0", "--port-file", port_file,
             "--parent-pid", str(os.getpid()), *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(port_file) or self.proc.poll() is not None,
                   timeout=20, message="simulator port file")
        if self.proc.poll() is not None:
            raise RuntimeError(f"simulator exited: see {self.tmp}/sim.log")
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.url = f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw

    def control(self, method, path, body=None):
        status, doc = self.request(method, "/_sim/" + path, body)
        if status >= 300:
            raise RuntimeError(f"simulator control {path} -> {status}: {doc}")
        return doc

    def seed(self, **kwargs):
        return self.control("POST", "seed", kwargs)

    def state(self, slug):
        return self.control("GET", f"state/{slug}")

    def mutate(self, **kwargs):
        return self.control("POST", "mutate", kwargs)

    def faults(self, **kwargs):
        return self.control("POST", "faults", kwargs)

    def config(self, **kwargs):
        return self.control("POST", "config", kwargs)

    def stats(self):
        return self.control("GET", "stats")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def install_extension(conn, with_vault=True):
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS plane_connector CASCADE")
    if with_vault:
        cur.execute("SELECT to_regclass('vault.secrets') IS NOT NULL")
        if not cur.fetchone()[0]:
            cur.execute(VAULT_FIXTURE.read_text())


def query(conn, sql, params=None):
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    cur.execute(sql, params)
    return cur.fetchall() if cur.description else None


def scalar(conn, sql, params=None):
    cur = conn.cursor()
    cur.execute(sql, params)
    if cur.description is None:  # a statement without a result (UPDATE, ...)
        return cur.rowcount
    row = cur.fetchone()
    return None if row is None else row[0]


import datetime as _dt
import unittest as _unittest


def utc(text):
    """Parses the simulator's UTC ISO timestamps ('...Z') into aware datetimes."""
    if text is None:
        return None
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class MirrorTestCase(_unittest.TestCase):
    """One cluster and one simulator per test class; each test uses its own workspace slug."""

    CLUSTER_CONF = []
    SIM_ARGS = ["--rate-limit", "0"]
    PAGE_SIZE = 50

    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(*cls.SIM_ARGS)
        cls.cluster = Cluster([f"plane.page_size = {cls.PAGE_SIZE}",
                               "plane.launcher_naptime = 1"] + list(cls.CLUSTER_CONF))
        cls.conn = None
        try:
            cls.cluster.start()
            cls.conn = cls.cluster.connect()
            install_extension(cls.conn)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "conn", None) is not None:
            cls.conn.close()
        cls.cluster.cleanup()
        cls.sim.stop()

    def add_workspace(self, slug, projects=2, items=120, tz="+05:30", key=None, store_key=True,
                      **seed):
        key = key or f"plane_api_{slug}_0123456789abcdef0123456789"
        self.sim.seed(workspace=slug, projects=projects, items_per_project=items, tz=tz,
                      api_key=key, seed=len(slug), **seed)
        if store_key:
            scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (key, f"plane_api_key:{slug}"))
        scalar(self.conn, "SELECT workspace_slug FROM work_plane.add_installation(%s, api_url => %s)",
               (slug, self.sim.url))
        return key

    def reconnect_after_crash(self, pid_sql, old_pid=None, message="the server and a new worker"):
        """After a crash the postmaster resets every backend: a connection made before it noticed
        dies in the reset. Waits until a query answers and `pid_sql` names a worker other than
        old_pid, then makes that connection the test's."""
        def attempt():
            try:
                c = self.cluster.connect()
                pid = scalar(c, pid_sql)
                if pid and pid != old_pid:
                    type(self).conn = c
                    return True
                c.close()
            except Exception:
                pass
            return False
        wait_until(attempt, timeout=60, interval=0.2, message=message)

    def status(self, slug):
        rows = query(self.conn, "SELECT * FROM work_plane.sync_status WHERE workspace_slug = %s",
                     (slug,))
        return rows[0] if rows else None

    def wait_for_run_end(self, slug, after_id=0, timeout=60):
        """Waits for the next sync summary row in ops.run_events and returns it."""
        return wait_until(
            lambda: (query(self.conn,
                           "SELECT * FROM ops.run_events WHERE workspace_slug = %s AND id > %s "
                           "AND action IN ('sync', 'sync_failed') ORDER BY id LIMIT 1",
                           (slug, after_id)) or [None])[0],
            timeout=timeout, message=f"end of a sync run of {slug}")

    def last_event_id(self):
        return scalar(self.conn, "SELECT coalesce(max(id), 0) FROM ops.run_events")

    def sync(self, slug, full=False, timeout=60):
        before = self.last_event_id()
        self.assertTrue(scalar(self.conn, "SELECT work_plane.sync_now(%s, %s)", (slug, full)))
        return self.wait_for_run_end(slug, before, timeout=timeout)

    def assert_mirror_matches(self, slug):
        """The mirror holds exactly what Plane's API shows (live rows), row for row."""
        truth = self.sim.state(slug)
        projects = {p["id"]: p for p in truth["projects"]}
        live_projects = {pid for pid, p in projects.items() if not p.get("archived_at")}
        items = {i["id"]: i for i in truth["work_items"]
                 if not i.get("archived_at") and not i.get("is_draft")
                 and i["project"] in live_projects and not i.get("_triage")}
        mirror_projects = {r["plane_id"]: r for r in query(
            self.conn, "SELECT * FROM work_plane.projects WHERE workspace_slug = %s "
                       "AND gone_at IS NULL", (slug,))}
        mirror_items = {r["plane_id"]: r for r in query(
            self.conn, "SELECT * FROM work_plane.items WHERE workspace_slug = %s "
                       "AND item_type = 'issue' AND gone_at IS NULL", (slug,))}
        self.assertEqual(set(projects), set(mirror_projects))
        self.assertEqual(set(items), set(mirror_items))
        for pid, p in projects.items():
            row = mirror_projects[pid]
            self.assertEqual(row["name"], p["name"])
            self.assertEqual(row["identifier"], p["identifier"])
            self.assertEqual(row["plane_updated_at"], utc(p["updated_at"]))
            self.assertEqual(row["plane_created_at"], utc(p["created_at"]))
            self.assertEqual(row["raw"]["id"], pid)
        for iid, it in items.items():
            row = mirror_items[iid]
            self.assertEqual(row["name"], it["name"], iid)
            self.assertEqual(row["project_plane_id"], it["project"])
            self.assertEqual(row["sequence_id"], it["sequence_id"])
            self.assertEqual(row["state_plane_id"], it["state"])
            self.assertEqual(row["priority"], it["priority"])
            self.assertEqual(row["parent_plane_id"], it.get("parent"))
            self.assertEqual(row["assignee_ids"], it["assignees"])
            self.assertEqual(row["label_ids"], it["labels"])
            self.assertEqual(row["plane_created_at"], utc(it["created_at"]))
            self.assertEqual(row["plane_updated_at"], utc(it["updated_at"]), iid)
            self.assertEqual(str(row["start_date"]) if row["start_date"] else None,
                             it.get("start_date"))
            self.assertEqual(row["raw"]["id"], iid)
        return truth
