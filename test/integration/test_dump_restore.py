"""pg_dump / pg_restore: a dump taken mid-operation — deliveries pending in the queue, a writeback
pending, a backfill frozen half-way — restores with `pg_restore --exit-on-error
--single-transaction` into a fresh cluster (roles created first, as `pg_dumpall --roles-only`
gives them), and there the workers carry on: the pending events are applied, the writeback is
written, the backfill resumes from its saved cursor, new rows get fresh ids, and row-level
security still separates the tenants."""
import json
import os
import unittest

from harness import Cluster, MirrorTestCase, pg_tool, query, scalar, wait_until

SECRET = "plane_wh_dump0123456789abcdef0123456789ab"
PAGE = 20


class DumpRestoreTest(MirrorTestCase):
    PAGE_SIZE = PAGE
    # The queue worker is off in the source: deliveries stay pending until the dump.
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'", "plane.queue_worker = off"]

    def setUp(self):
        self.target = None

    def tearDown(self):
        self.sim.faults()
        if self.target is not None:
            self.target.cleanup()

    def live_items(self, slug):
        return [i for i in self.sim.state(slug)["work_items"] if not i.get("archived_at") and not i.get("is_draft")]

    def test_dump_taken_mid_operation_restores_and_the_workers_carry_on(self):
        c = self.conn
        # Tenant A: mirrored, with webhooks; tenant B: a backfill of 10 pages, frozen after 3.
        self.add_workspace("tenant-a", projects=1, items=30, webhook_secret=SECRET)
        self.assertEqual(self.wait_for_run_end("tenant-a")["action"], "sync")
        scalar(c, "SELECT vault.create_secret(%s, 'plane_webhook_secret:tenant-a')", (SECRET,))
        for role, slug in (("dump_reader_a", "tenant-a"), ("dump_reader_b", "tenant-b")):
            scalar(c, f"CREATE ROLE {role} IN ROLE plane_connector_reader")
        scalar(c, "INSERT INTO work_plane.workspace_access VALUES ('dump_reader_a', 'tenant-a')")
        # Plane hangs on tenant B's fourth page of work items and on everything of tenant A.
        self.sim.faults(hang=True, path_regex=r"/workspaces/tenant-a/|tenant-b/.*work-items/.*cursor=20(:|%3A)[3-9]")
        self.add_workspace("tenant-b", projects=1, items=200)
        scalar(c, "INSERT INTO work_plane.workspace_access VALUES ('dump_reader_b', 'tenant-b')")
        cursor = wait_until(lambda: scalar(c, "SELECT cursor FROM work_plane.events_cursor WHERE workspace_slug = "
                                              "'tenant-b' AND resource LIKE 'work_items:%%' AND cursor LIKE '20:3:%%'"),
                            timeout=60, message="tenant B's backfill to stop after three pages")
        half = scalar(c, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'tenant-b' AND item_type = 'issue'")
        self.assertEqual(half, 3 * PAGE)
        # A writeback of tenant A, pending while its worker waits for Plane.
        scalar(c, "SELECT work_plane.set_writeback_policy('tenant-a', 'enabled', 'keep_local')")
        a_items = self.live_items("tenant-a")
        project_a = a_items[0]["project"]
        change = scalar(c, "SELECT work_plane.update_work_item('tenant-a', %s, %s)",
                        (a_items[0]["id"], json.dumps({"name": "written after the restore"})))
        wait_until(lambda: scalar(c, "SELECT running FROM work_plane.sync_status WHERE workspace_slug = 'tenant-a'"),
                   message="tenant A's worker to be waiting for Plane")
        # Deliveries pending in the queue; a done one (not dumped), a dead one, another connector's.
        for n, it in enumerate(a_items[1:4]):
            out = self.sim.mutate(workspace="tenant-a", op="update", type="work_item", id=it["id"], project=project_a,
                                  fields={"name": f"pending delivery {n}"})
            d = [w for w in out["webhooks"] if w["version"] == "v2"][0]
            self.assertEqual(scalar(c, "SELECT work_plane.ingest_webhook('tenant-a', %s::jsonb, %s)",
                                    (json.dumps(d["headers"]), d["body"])), 200)
        scalar(c, """INSERT INTO ops.event_queue (source, idempotency_key, workspace_slug, event_type, payload, status)
                     VALUES ('plane', 'plane:event:done-before-the-dump', 'tenant-a', 'x', '{}', 'done'),
                            ('plane', 'plane:event:dead-before-the-dump', 'tenant-a', 'x', '{}', 'dead'),
                            ('other_connector', 'other:done', NULL, 'x', '{}', 'done')""")
        self.assertEqual(scalar(c, "SELECT pending FROM work_plane.queue_status"), 3)
        self.assertEqual(scalar(c, "SELECT status FROM work_plane.pending_changes WHERE id = %s", (change,)), "pending")
        audit_rows = scalar(c, "SELECT count(*) FROM ops.run_events")
        history = query(c, "SELECT id, plane_id, field, source FROM work_plane.item_history ORDER BY id")
        self.assertTrue(history)
        documents = scalar(c, "SELECT count(*) FROM work_plane.search_documents")
        chunks = scalar(c, "SELECT count(*) FROM work_plane.content_chunks")

        # The target cluster, its roles first, then the dump.
        self.target = Cluster([f"plane.page_size = {PAGE}", "plane.launcher_naptime = 1",
                               "plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"])
        self.target.start()
        dump = os.path.join(self.target.dir, "plane.dump")
        roles = os.path.join(self.target.dir, "roles.sql")
        with open(roles, "w") as f:
            f.writelines(line for line in pg_tool("pg_dumpall", "-h", self.cluster.dir, "-p", str(self.cluster.port),
                                                 "-U", "postgres", "--roles-only", "--no-role-passwords")
                                         .splitlines(keepends=True)
                         if line.strip() != "CREATE ROLE postgres;")
        pg_tool("pg_dump", "-h", self.cluster.dir, "-p", str(self.cluster.port), "-U", "postgres",
                "-Fc", "-f", dump, self.cluster.dbname)
        # The source goes away with its workers still waiting; Plane answers again.
        self.conn.close()
        type(self).conn = None
        self.cluster.stop()
        self.sim.faults()
        pg_tool("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.target.dir, "-p", str(self.target.port),
                "-U", "postgres", "-d", "postgres", "-f", roles)
        pg_tool("pg_restore", "--exit-on-error", "--single-transaction", "-h", self.target.dir,
                "-p", str(self.target.port), "-U", "postgres", "-d", self.target.dbname, dump)
        t = type(self).conn = self.target.connect()

        # What was dumped: configuration, state, the audit log, the queue's unfinished and dead rows
        # (and another connector's rows whatever their status), the mirror, the Vault fixture.
        self.assertEqual(scalar(t, "SELECT count(*) FROM ops.event_queue WHERE idempotency_key = "
                                   "'plane:event:done-before-the-dump'"), 0)
        self.assertEqual(scalar(t, "SELECT status FROM ops.event_queue WHERE idempotency_key = "
                                   "'plane:event:dead-before-the-dump'"), "dead")
        self.assertEqual(scalar(t, "SELECT status FROM ops.event_queue WHERE idempotency_key = 'other:done'"), "done")
        self.assertGreaterEqual(scalar(t, "SELECT count(*) FROM ops.run_events"), audit_rows)
        # The change history as it was, no item observed twice by the restore's reload of the
        # mirror; the search index and chunks (not dumped) rebuilt as the mirror was reloaded.
        self.assertEqual(query(t, "SELECT id, plane_id, field, source FROM work_plane.item_history ORDER BY id"),
                         history)
        self.assertEqual(scalar(t, "SELECT count(*) FROM work_plane.search_documents"), documents)
        self.assertEqual(scalar(t, "SELECT count(*) FROM work_plane.content_chunks"), chunks)
        # The identity sequences came along: the next id is past every restored row's.
        for table in ("ops.run_events", "ops.event_queue", "work_plane.pending_changes", "work_plane.item_history"):
            last, top = query(t, f"SELECT pg_sequence_last_value(pg_get_serial_sequence('{table}', 'id')) AS last, "
                                 f"(SELECT max(id) FROM {table}) AS top")[0].values()
            self.assertGreaterEqual(last or 0, top, f"{table}: sequence at {last}, rows up to {top}")

        # The workers carry on: the pending deliveries are applied, the writeback is written ...
        wait_until(lambda: scalar(t, "SELECT pending + processing FROM work_plane.queue_status") == 0,
                   timeout=30, message="the restored deliveries to be applied")
        for n, it in enumerate(a_items[1:4]):
            self.assertEqual(scalar(t, "SELECT name FROM work_plane.items WHERE plane_id = %s", (it["id"],)),
                             f"pending delivery {n}")
        done = wait_until(lambda: (lambda r: r if r["status"] != "pending" else None)(
            query(t, "SELECT * FROM work_plane.pending_changes WHERE id = %s", (change,))[0]),
            timeout=60, message="the restored writeback")
        self.assertEqual(done["status"], "applied", done)
        self.assertEqual({i["id"]: i for i in self.live_items("tenant-a")}[a_items[0]["id"]]["name"],
                         "written after the restore")
        # ... and tenant B's backfill resumes from its cursor rather than starting again.
        run = wait_until(lambda: query(t, "SELECT * FROM ops.run_events WHERE workspace_slug = 'tenant-b' "
                                          "AND action IN ('sync', 'sync_failed') ORDER BY id DESC LIMIT 1"),
                         timeout=60, message="tenant B's resumed sync")[0]
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertEqual(run["details"]["work_items"], 200 - half)
        self.assert_mirror_matches("tenant-b")
        self.assert_mirror_matches("tenant-a")
        # New rows get new ids (the identity sequences came along), deliveries are accepted again.
        out = self.sim.mutate(workspace="tenant-a", op="update", type="work_item", id=a_items[5]["id"],
                              project=project_a, fields={"name": "delivered after the restore"})
        for d in out["webhooks"]:
            self.assertEqual(scalar(t, "SELECT work_plane.ingest_webhook('tenant-a', %s::jsonb, %s)",
                                    (json.dumps(d["headers"]), d["body"])), 200)
        wait_until(lambda: scalar(t, "SELECT name FROM work_plane.items WHERE plane_id = %s", (a_items[5]["id"],))
                   == "delivered after the restore", timeout=15, message="a new delivery to be applied")
        self.assertEqual(scalar(t, "SELECT work_plane.sync_now('tenant-a')"), True)
        # Tenancy: each reader sees its own workspace only.
        for role, slug in (("dump_reader_a", "tenant-a"), ("dump_reader_b", "tenant-b")):
            t.cursor().execute(f"SET ROLE {role}")
            try:
                self.assertEqual([r["workspace_slug"] for r in query(
                    t, "SELECT DISTINCT workspace_slug FROM work_plane.items")], [slug])
                self.assertEqual([r["workspace_slug"] for r in query(
                    t, "SELECT DISTINCT workspace_slug FROM work_plane.projects")], [slug])
            finally:
                t.cursor().execute("RESET ROLE")


if __name__ == "__main__":
    unittest.main()
