"""Hot standby: a streaming replica made with pg_basebackup, preloading the library. On the standby
no worker starts and none errors, the mirror is readable (row-level security included), and
webhook ingest says 503 with why. When the primary dies mid-backfill and the standby is promoted,
the workers start there and the backfill resumes from the cursor that was replicated."""
import json
import os
import re
import shutil
import unittest

import psycopg2
import psycopg2.errors

from harness import PG_USER, Cluster, MirrorTestCase, free_port, pg_tool, query, scalar, wait_until

SECRET = "plane_wh_standby0123456789abcdef012345678"
PAGE = 20
ITEMS = 200


class StandbyTest(MirrorTestCase):
    PAGE_SIZE = PAGE
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def setUp(self):
        self.standby = None

    def tearDown(self):
        self.sim.faults()
        if self.standby is not None:
            self.standby.cleanup()

    def make_standby(self):
        standby = Cluster()
        standby.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(standby.dir, PG_USER)
        data = os.path.join(standby.dir, "data")
        pg_tool("pg_basebackup", "-h", self.cluster.dir, "-p", str(self.cluster.port),
                    "-U", "postgres", "-D", data, "-R", "-X", "stream", "--checkpoint=fast")
        # The copy carries the primary's postgresql.conf (the library preloaded, plane.database, its
        # port and socket directory): the later lines win.
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write(f"port = {standby.port}\nunix_socket_directories = '{standby.dir}'\n")
        standby.started = True
        standby.pg_ctl("-w", "-t", "60", "-l", os.path.join(standby.dir, "server.log"), "start")
        return standby

    def test_standby_serves_reads_and_the_workers_start_at_promotion(self):
        c = self.conn
        self.add_workspace("replicated", projects=1, items=ITEMS, webhook_secret=SECRET)
        scalar(c, "SELECT vault.create_secret(%s, 'plane_webhook_secret:replicated')", (SECRET,))
        scalar(c, "CREATE ROLE standby_reader IN ROLE plane_connector_reader")
        scalar(c, "INSERT INTO work_plane.workspace_access VALUES ('standby_reader', 'replicated')")
        # The primary's backfill stops after three pages: Plane hangs on the fourth.
        self.sim.faults(hang=True, path_regex=r"replicated/.*work-items/.*cursor=20(:|%3A)[3-9]")
        wait_until(lambda: scalar(c, "SELECT cursor FROM work_plane.events_cursor WHERE workspace_slug = 'replicated' "
                                     "AND resource LIKE 'work_items:%%' AND cursor LIKE '20:3:%%'"),
                   timeout=60, message="the backfill to stop after three pages")
        mirrored = scalar(c, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'replicated'")

        self.standby = self.make_standby()
        s = self.standby.connect()
        self.assertTrue(scalar(s, "SELECT pg_is_in_recovery()"))
        # The mirror is readable there, as of the primary (and still per tenant).
        wait_until(lambda: scalar(s, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'replicated'")
                   == mirrored, timeout=30, message="the mirror on the standby")
        self.assertEqual(scalar(s, "SELECT cursor FROM work_plane.events_cursor WHERE workspace_slug = 'replicated' "
                                   "AND resource LIKE 'work_items:%%'"), "20:3:0")
        s.cursor().execute("SET ROLE standby_reader")
        self.assertEqual(scalar(s, "SELECT count(*) FROM work_plane.items"), mirrored)
        s.cursor().execute("RESET ROLE")
        # No worker runs there; webhooks are refused with 503 and the reason.
        self.assertIsNone(scalar(s, "SELECT work_plane.launcher_pid()"))
        self.assertIsNone(scalar(s, "SELECT work_plane.queue_worker_pid()"))
        self.assertEqual(scalar(s, "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'plane_connector%%'"), 0)
        self.assertIn("standby", scalar(s, "SELECT work_plane._unserved_reason()"))
        with self.assertRaises(psycopg2.errors.ReadOnlySqlTransaction):
            scalar(s, "SELECT work_plane.sync_now('replicated')")
        out = self.sim.mutate(workspace="replicated", op="update", type="work_item",
                              id=query(c, "SELECT plane_id FROM work_plane.items WHERE workspace_slug = 'replicated' "
                                          "AND item_type = 'issue' ORDER BY plane_id LIMIT 1")[0]["plane_id"],
                              project=query(c, "SELECT plane_id FROM work_plane.projects")[0]["plane_id"],
                              fields={"name": "delivered to the promoted server"})
        d = [w for w in out["webhooks"] if w["version"] == "v2"][0]
        s.notices.clear()
        self.assertEqual(scalar(s, "SELECT work_plane.ingest_webhook('replicated', %s::jsonb, %s)",
                                (json.dumps(d["headers"]), d["body"])), 503)
        self.assertTrue(any("standby" in n for n in s.notices), s.notices)
        s.close()

        # The primary dies mid-backfill; the standby is promoted.
        self.conn.close()
        type(self).conn = None
        self.cluster.pg_ctl("-m", "immediate", "-w", "stop")
        self.cluster.started = False
        self.sim.faults()
        standby_log = self.standby.server_log()
        worker_trouble = [line for line in standby_log.splitlines()
                          if "plane_connector" in line and re.search(r"ERROR|FATAL|PANIC", line)]
        self.assertEqual(worker_trouble, [], "the standby's log before promotion")
        self.standby.pg_ctl("-w", "-t", "60", "promote")
        p = type(self).conn = self.standby.connect()
        self.assertFalse(scalar(p, "SELECT pg_is_in_recovery()"))
        wait_until(lambda: scalar(p, "SELECT work_plane.launcher_pid()") and scalar(p, "SELECT work_plane.queue_worker_pid()"),
                   timeout=30, message="the workers to start at promotion")
        # The run the primary left is resumed from its replicated cursor, not restarted.
        run = self.wait_for_run_end("replicated", timeout=60)
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertEqual(run["details"]["work_items"], ITEMS - 3 * PAGE)
        self.assert_mirror_matches("replicated")
        # And webhooks are accepted and applied there now.
        self.assertEqual(scalar(p, "SELECT work_plane.ingest_webhook('replicated', %s::jsonb, %s)",
                                (json.dumps(d["headers"]), d["body"])), 200)
        wait_until(lambda: scalar(p, "SELECT status FROM ops.event_queue WHERE delivery_id = %s",
                                  (json.loads(d["body"])["delivery_id"],)) == "done",
                   timeout=15, message="the delivery to be applied on the promoted server")
        self.assertEqual(scalar(p, "SELECT count(*) FROM work_plane.items WHERE name = "
                                   "'delivered to the promoted server'"), 1)


if __name__ == "__main__":
    unittest.main()
