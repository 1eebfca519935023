"""Wrong database: CREATE EXTENSION outside plane.database warns, and sync_now and webhook ingest
there say that no worker serves it (nothing is queued). A plane.database that does not exist makes
the workers back off (1 s, 2 s, 4 s, ... up to a minute between attempts) instead of failing every
second, and they connect once it is created."""
import datetime as dt
import hashlib
import hmac
import json
import re
import unittest

from harness import Cluster, MirrorTestCase, install_extension, scalar, wait_until

SECRET = "plane_wh_wrongdb0123456789abcdef01234567"


class WrongDatabaseTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def test_extension_outside_plane_database_warns_and_is_not_served(self):
        admin = self.cluster.connect("postgres")
        try:
            scalar(admin, "CREATE DATABASE elsewhere")
        finally:
            admin.close()
        self.add_workspace("served", projects=1, items=3)
        e = self.cluster.connect("elsewhere")
        try:
            e.notices.clear()
            scalar(e, "CREATE EXTENSION plane_connector CASCADE")
            self.assertTrue(any('plane.database is "plane_test": the plane_connector workers serve that database, '
                                'not "elsewhere"' in n for n in e.notices), e.notices)
            install_extension(e)  # the Vault fixture
            scalar(e, "SELECT vault.create_secret(%s, 'plane_webhook_secret:lost')", (SECRET,))
            scalar(e, "SELECT workspace_slug FROM work_plane.add_installation('lost', api_url => %s)", (self.sim.url,))
            e.notices.clear()
            self.assertIs(scalar(e, "SELECT work_plane.sync_now('lost')"), False)
            self.assertTrue(any("no plane_connector worker serves this database" in n
                                and 'plane.database is "plane_test": the workers serve that database, not "elsewhere"'
                                in n for n in e.notices), e.notices)
            body = json.dumps({"event": "issue_comment", "action": "created", "webhook_id": "w",
                               "workspace_id": "x", "data": {"id": "c1"}, "activity": {}})
            headers = {"X-Plane-Signature": hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()}
            e.notices.clear()
            self.assertEqual(scalar(e, "SELECT work_plane.ingest_webhook('lost', %s::jsonb, %s)",
                                    (json.dumps(headers), body)), 503)
            self.assertTrue(any('no plane_connector queue worker serves database "elsewhere"' in n
                                for n in e.notices), e.notices)
            self.assertEqual(scalar(e, "SELECT count(*) FROM ops.event_queue"), 0)
            self.assertIn('not "elsewhere"', scalar(e, "SELECT work_plane._unserved_reason()"))
        finally:
            e.close()
        # The served database is served (once its launcher has connected: the harness creates the
        # database after the server starts, so the workers' first attempt failed).
        wait_until(lambda: scalar(self.conn, "SELECT work_plane._unserved_reason() IS NULL"),
                   timeout=20, message="the launcher to serve plane_test")
        self.assertIs(scalar(self.conn, "SELECT work_plane.sync_now('served')"), True)


FATAL = re.compile(r'^(\S+ \S+) UTC \[\d+\] plane_connector (launcher|queue) FATAL:  database "not_there_yet" '
                   r'does not exist', re.M)


class MissingDatabaseTest(MirrorTestCase):
    """plane.database names a database that does not exist (yet)."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.database = 'not_there_yet'"]  # after the harness's own line: this one wins

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.conn.close()  # connected to plane_test, which no worker serves here
        cls.conn = None

    def failures(self):
        out = {"launcher": [], "queue": []}
        for stamp, worker in FATAL.findall(self.cluster.server_log()):
            out[worker].append(dt.datetime.fromisoformat(stamp))
        return out

    def test_workers_back_off_until_the_database_exists(self):
        # Four failed attempts each: at 0, ~2, ~5 and ~10 s (restart after 1 s, then 1, 2, 4 s more).
        seen = wait_until(lambda: (lambda f: f if min(len(v) for v in f.values()) >= 4 else None)(self.failures()),
                          timeout=40, interval=0.2, message="four failed connection attempts of each worker")
        for worker, times in seen.items():
            gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
            # Without the back-off the postmaster restarts a worker every second: gaps of ~1 s.
            self.assertGreaterEqual(gaps[0], 1.7, f"{worker}: {gaps}")
            self.assertGreaterEqual(gaps[1], 2.7, f"{worker}: {gaps}")
            self.assertGreaterEqual(gaps[2], 4.7, f"{worker}: {gaps}")
            self.assertLessEqual(gaps[2], 10, f"{worker}: {gaps}")
        # Once the database exists, the workers connect at their next attempt and serve it.
        admin = self.cluster.connect("postgres")
        try:
            scalar(admin, "CREATE DATABASE not_there_yet")
        finally:
            admin.close()
        type(self).conn = self.cluster.connect("not_there_yet")
        install_extension(self.conn)
        wait_until(lambda: scalar(self.conn, "SELECT work_plane.launcher_pid()")
                   and scalar(self.conn, "SELECT work_plane.queue_worker_pid()"),
                   timeout=30, message="the workers to connect to the new database")
        self.add_workspace("found", projects=1, items=5)
        self.assertEqual(self.wait_for_run_end("found")["action"], "sync")
        self.assert_mirror_matches("found")
        failed = self.failures()
        self.assertLessEqual(max(len(v) for v in failed.values()), 6, failed)


if __name__ == "__main__":
    unittest.main()
