"""Fault suite: crashes of the sync worker and of Postgres mid-sync; the workers come back by
themselves and resume from their cursors; the mirror ends equal to the simulator."""
import os
import signal
import time
import unittest

from harness import MirrorTestCase, install_extension, query, scalar, wait_until


class CrashTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def reconnect(self, old_launcher=None):
        self.reconnect_after_crash("SELECT work_plane.launcher_pid()", old_launcher,
                                   "the server and a new launcher")

    def start_slow_backfill(self, slug, items=600):
        self.add_workspace(slug, projects=1, items=items)
        self.wait_for_run_end(slug)
        self.sim.faults(delay_ms=60, path_regex=f"/workspaces/{slug}/")
        scalar(self.conn, "SELECT work_plane.sync_now(%s, true)", (slug,))
        return wait_until(lambda: scalar(self.conn, "SELECT worker_pid FROM work_plane.sync_status "
                                                    "WHERE workspace_slug = %s AND running AND phase = 'work_items' "
                                                    "AND pages_done >= 9", (slug,)),
                          timeout=60, message="a backfill in progress")

    def finish_and_check(self, slug):
        wait_until(lambda: (lambda s: s and s[0]["state"] == "idle" and s[0]["last_error"] is None)(
            query(self.conn, "SELECT * FROM work_plane.sync_status WHERE workspace_slug = %s", (slug,))),
            timeout=120, message="the interrupted sync to be resumed and finish")
        last = query(self.conn, "SELECT details FROM ops.run_events WHERE workspace_slug = %s AND action = 'sync' "
                                "ORDER BY id DESC LIMIT 1", (slug,))[0]["details"]
        # Resumed, not restarted: fewer work items read than the whole project holds.
        self.assertLess(last["work_items"], 600)
        self.assert_mirror_matches(slug)

    def test_kill_9_of_the_sync_worker_mid_backfill(self):
        pid = self.start_slow_backfill("kill9")
        cursor = scalar(self.conn, "SELECT cursor FROM work_plane.events_cursor WHERE workspace_slug = 'kill9' "
                                   "AND resource LIKE 'work_items:%%'")
        self.assertTrue(cursor)
        launcher = scalar(self.conn, "SELECT work_plane.launcher_pid()")
        os.kill(pid, signal.SIGKILL)  # the postmaster resets every backend after this
        self.conn.close()
        self.sim.faults()
        self.reconnect(launcher)
        self.finish_and_check("kill9")

    def test_a_recorded_pid_now_held_by_another_process_is_not_a_running_sync(self):
        # After a restore or a promotion, sync_state can name a pid that another process holds in
        # this server: the launcher must still see the run as interrupted and resume it.
        self.add_workspace("reusedpid", projects=1, items=5)
        self.wait_for_run_end("reusedpid")
        other = self.cluster.connect()
        try:
            other_pid = other.get_backend_pid()
            scalar(self.conn, "UPDATE work_plane.sync_state SET state = 'running', worker_pid = %s, "
                              "run_started_at = now() - interval '1 hour' WHERE workspace_slug = 'reusedpid'",
                   (other_pid,))
            before = self.last_event_id()
            launcher = scalar(self.conn, "SELECT work_plane.launcher_pid()")
            scalar(self.conn, "SELECT pg_terminate_backend(%s)", (launcher,))
            wait_until(lambda: (scalar(self.conn, "SELECT work_plane.launcher_pid()") or launcher) != launcher,
                       timeout=30, message="a new launcher")
            run = self.wait_for_run_end("reusedpid", before, timeout=60)
            self.assertEqual(run["action"], "sync")
            self.assertEqual(scalar(self.conn, "SELECT state FROM work_plane.sync_state "
                                               "WHERE workspace_slug = 'reusedpid'"), "idle")
            self.assertIsNotNone(scalar(other, "SELECT 1"))  # the other process was never touched
        finally:
            other.close()

    def test_immediate_shutdown_and_restart_mid_sync(self):
        self.start_slow_backfill("restart")
        self.conn.close()
        self.cluster.pg_ctl("-m", "immediate", "-w", "stop")
        self.sim.faults()
        self.cluster.pg_ctl("-w", "-t", "60", "-l", os.path.join(self.cluster.dir, "server.log"), "start")
        self.reconnect()
        self.finish_and_check("restart")

    def test_drop_extension_during_a_hung_request(self):
        self.add_workspace("dropme", projects=1, items=10)
        self.wait_for_run_end("dropme")
        self.sim.faults(hang=True, path_regex="/workspaces/dropme/")
        try:
            scalar(self.conn, "SELECT work_plane.sync_now('dropme')")
            pid = wait_until(lambda: scalar(self.conn, "SELECT worker_pid FROM work_plane.sync_status "
                                                       "WHERE workspace_slug = 'dropme' AND running"),
                             message="a hung sync")
            c = self.cluster.connect()
            c.cursor().execute("SET statement_timeout = '20s'")
            started = time.monotonic()
            c.cursor().execute("DROP EXTENSION plane_connector CASCADE")
            self.assertLess(time.monotonic() - started, 20)
            c.close()
            # The hung worker notices and ends by itself once Plane answers or on SIGTERM.
            scalar(self.conn, "SELECT pg_terminate_backend(%s)", (pid,))
            wait_until(lambda: not scalar(self.conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)),
                       timeout=5, message="the worker to exit")
        finally:
            self.sim.faults()
        # The extension can be created again and works.
        scalar(self.conn, "CREATE EXTENSION plane_connector CASCADE")
        self.add_workspace("dropme2", projects=1, items=5)
        run = self.wait_for_run_end("dropme2")
        self.assertEqual(run["action"], "sync", run["details"])



class IdleTest(MirrorTestCase):
    """An idle installation costs nothing: the workers sleep on their latches between naps."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.launcher_naptime = 30"]

    def test_idle_workers_do_not_busy_poll(self):
        self.add_workspace("idle", projects=1, items=5)
        self.wait_for_run_end("idle")
        sql = ("SELECT backend_type, state_change FROM pg_stat_activity "
               "WHERE backend_type IN ('plane_connector launcher', 'plane_connector queue') ORDER BY 1")
        # Each worker reports its activity once per loop: idle, the report must not move.
        # The end of the run wakes the launcher (worker exit, commit) a last time, so first
        # wait for the reports to settle: unchanged across half a second.
        def settled():
            before = query(self.conn, sql)
            time.sleep(0.5)
            after = query(self.conn, sql)
            same = len(before) == 2 and [r["state_change"] for r in before] == [r["state_change"] for r in after]
            return after if same else None
        first = wait_until(settled, timeout=20, message="both workers to settle")
        self.sim.control("POST", "stats/reset")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # observe for three seconds; any loop would show
            later = query(self.conn, sql)
            self.assertEqual([r["state_change"] for r in later], [r["state_change"] for r in first], later)
            time.sleep(0.2)
        self.assertEqual(self.sim.stats()["requests"], 0)


class LoadTest(MirrorTestCase):
    """50,000 webhook deliveries while a full sync runs and a second workspace fails: every
    delivery is accepted, the queue drains, nothing is dead, memory stays bounded."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.max_attempts = 2"]
    DELIVERIES = 50000

    @staticmethod
    def rss_anon_kib(pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        return 0

    def test_burst_during_a_full_sync_and_a_failing_workspace(self):
        import datetime as dt
        import hashlib
        import hmac
        import json
        import uuid
        secret = "plane_wh_load0123456789abcdef0123456789ab"
        self.add_workspace("load", projects=1, items=500, webhook_secret=secret)
        self.wait_for_run_end("load")
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_webhook_secret:load')", (secret,))
        self.add_workspace("loadsync", projects=2, items=400)
        self.wait_for_run_end("loadsync")
        self.add_workspace("loadfail", projects=1, items=5, store_key=False)  # no key: fails
        truth = self.sim.state("load")
        items = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")]
        # Newer than the simulator's versions, and not in the future (a future updated_at is not
        # applied: the sync fetches the object instead).
        base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        headers, bodies, last_name = [], [], {}
        for n in range(self.DELIVERIES):
            it = dict(items[n % len(items)])
            it["name"] = f"load {n}"
            it["updated_at"] = (base + dt.timedelta(microseconds=n)).isoformat().replace("+00:00", "Z")
            body = json.dumps({"version": "v2", "delivery_id": str(uuid.uuid4()), "event_id": str(uuid.uuid4()),
                               "entity_id": it["id"], "entity_type": "workitem", "event": "workitem.updated",
                               "webhook_id": "w", "workspace_id": "ws", "data": it, "previous_attributes": {}})
            sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
            headers.append(json.dumps({"X-Plane-Signature": sig}))
            bodies.append(body)
            last_name[it["id"]] = it["name"]
        qpid = scalar(self.conn, "SELECT work_plane.queue_worker_pid()")
        rss_before = self.rss_anon_kib(qpid)
        self.sim.faults(delay_ms=20, path_regex="/workspaces/loadsync/")
        try:
            scalar(self.conn, "SELECT work_plane.sync_now('loadsync', true)")
            scalar(self.conn, "SELECT work_plane.sync_now('loadfail')")
            accepted = 0
            for start in range(0, self.DELIVERIES, 1000):
                accepted += scalar(self.conn, "SELECT count(*) FILTER (WHERE s = 200) FROM (SELECT "
                                              "work_plane.ingest_webhook('load', h::jsonb, b) AS s FROM "
                                              "unnest(%s::text[], %s::text[]) AS t(h, b)) x",
                                   (headers[start:start + 1000], bodies[start:start + 1000]))
            self.assertEqual(accepted, self.DELIVERIES)
            wait_until(lambda: scalar(self.conn, "SELECT pending + processing FROM work_plane.queue_status") == 0,
                       timeout=300, interval=0.5, message="the queue to drain")
            sync = self.wait_for_run_end("loadsync", timeout=300)
        finally:
            self.sim.faults()
        self.assertEqual(sync["action"], "sync", sync["details"])
        self.assertEqual(self.status("loadfail")["state"], "failed")
        counts = {r["status"]: r["n"] for r in query(
            self.conn, "SELECT status, count(*) AS n FROM ops.event_queue WHERE workspace_slug = 'load' GROUP BY 1")}
        self.assertEqual(counts.get("done", 0), self.DELIVERIES, counts)
        names = {r["plane_id"]: r["name"] for r in query(
            self.conn, "SELECT plane_id, name FROM work_plane.items WHERE workspace_slug = 'load' AND item_type = 'issue'")}
        for plane_id, name in last_name.items():
            self.assertEqual(names[plane_id], name)  # the newest of 100 out-of-batch updates won
        growth_mib = (self.rss_anon_kib(qpid) - rss_before) / 1024
        self.assertLess(growth_mib, 64, f"queue worker private memory grew by {growth_mib:.1f} MiB")
        self.assert_mirror_matches("loadsync")


class DropDatabaseTest(MirrorTestCase):
    """DROP DATABASE … WITH (FORCE) while a sync hangs in an HTTP request to Plane completes
    within seconds (the workers leave on SIGTERM), and a recreated database is synced again."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def test_drop_database_during_a_hung_request(self):
        self.add_workspace("dropdb", projects=1, items=10)
        self.assertEqual(self.wait_for_run_end("dropdb")["action"], "sync")
        self.sim.faults(hang=True, path_regex="/workspaces/dropdb/")
        try:
            scalar(self.conn, "SELECT work_plane.sync_now('dropdb')")
            pid = wait_until(lambda: scalar(self.conn, "SELECT worker_pid FROM work_plane.sync_status "
                                                       "WHERE workspace_slug = 'dropdb' AND running"),
                             message="a hung sync")
            self.conn.close()
            admin = self.cluster.connect("postgres")
            admin.cursor().execute("SET statement_timeout = '30s'")
            started = time.monotonic()
            admin.cursor().execute(f'DROP DATABASE "{self.cluster.dbname}" WITH (FORCE)')
            self.assertLess(time.monotonic() - started, 10)
            wait_until(lambda: not scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)),
                       timeout=10, message="the hung worker to be gone")
        finally:
            self.sim.faults()
        # Created again, the database gets a launcher again (it retries every second) and syncs.
        admin.cursor().execute(f'CREATE DATABASE "{self.cluster.dbname}"')
        admin.close()
        type(self).conn = self.cluster.connect()
        install_extension(self.conn)
        wait_until(lambda: scalar(self.conn, "SELECT work_plane.launcher_pid()"), timeout=30,
                   message="a launcher in the new database")
        self.add_workspace("dropdb2", projects=1, items=5)
        self.assertEqual(self.wait_for_run_end("dropdb2")["action"], "sync")
        self.assert_mirror_matches("dropdb2")


if __name__ == "__main__":
    unittest.main()
