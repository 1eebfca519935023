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
    """Polls predicate() until it returns a truthy value, which is returned; fails after timeout."""
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
    cur.execute("CREATE EXTENSION IF NOT EXISTS plane_connector")
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
    row = cur.fetchone()
    return None if row is None else row[0]
