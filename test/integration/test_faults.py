"""Fault suite: crashes of the sync worker and of Postgres mid-sync; the workers come back by
themselves and resume from their cursors; the mirror ends equal to the simulator."""
import os
import signal
import time
import unittest

from harness import MirrorTestCase, query, scalar, wait_until


class CrashTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def reconnect(self):
        def attempt():
            try:
                type(self).conn = self.cluster.connect()
                return True
            except Exception:
                return False
        wait_until(attempt, timeout=60, message="the server to accept connections again")

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
        os.kill(pid, signal.SIGKILL)  # the postmaster resets every backend after this
        self.conn.close()
        self.sim.faults()
        self.reconnect()
        self.finish_and_check("kill9")

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
        scalar(self.conn, "CREATE EXTENSION plane_connector")
        self.add_workspace("dropme2", projects=1, items=5)
        run = self.wait_for_run_end("dropme2")
        self.assertEqual(run["action"], "sync", run["details"])


if __name__ == "__main__":
    unittest.main()


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
        first = wait_until(lambda: (lambda r: r if len(r) == 2 else None)(query(self.conn, sql)),
                           message="both workers")
        self.sim.control("POST", "stats/reset")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # observe for two seconds; any loop would show
            later = query(self.conn, sql)
            self.assertEqual([r["state_change"] for r in later], [r["state_change"] for r in first], later)
            time.sleep(0.2)
        self.assertEqual(self.sim.stats()["requests"], 0)
