"""Writeback to Plane behind the policy gate, with optimistic locking on Plane's updated_at."""
import unittest

import psycopg2

from harness import MirrorTestCase, query, scalar, utc, wait_until


class WritebackTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def setup_workspace(self, slug):
        self.add_workspace(slug, projects=1, items=20)
        self.wait_for_run_end(slug)
        truth = self.sim.state(slug)
        live = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")]
        return truth["projects"][0]["id"], live

    def plane_item(self, slug, plane_id):
        return {i["id"]: i for i in self.sim.state(slug)["work_items"]}[plane_id]

    def change(self, change_id):
        return query(self.conn, "SELECT * FROM work_plane.pending_changes WHERE id = %s", (change_id,))[0]

    def events(self, slug, action):
        return query(self.conn, "SELECT * FROM ops.run_events WHERE workspace_slug = %s AND action = %s "
                                "ORDER BY id", (slug, action))

    def wait_change(self, change_id):
        return wait_until(lambda: (lambda c: c if c["status"] != "pending" else None)(self.change(change_id)),
                          timeout=30, message=f"change {change_id} to be written")

    def test_refused_and_logged_while_disabled(self):
        project, live = self.setup_workspace("wb-off")
        before = self.plane_item("wb-off", live[0]["id"])
        cid = scalar(self.conn, "SELECT work_plane.update_work_item('wb-off', %s, %s)",
                     (live[0]["id"], '{"name": "should not reach Plane"}'))
        self.assertEqual(self.change(cid)["status"], "refused")
        self.assertTrue(self.events("wb-off", "writeback_refused"))
        run = self.sync("wb-off")
        self.assertEqual(run["details"]["writeback"]["applied"], 0)
        self.assertEqual(self.plane_item("wb-off", live[0]["id"])["name"], before["name"])
        with self.assertRaises(psycopg2.Error):  # enabling without a conflict policy fails
            scalar(self.conn, "SELECT work_plane.set_writeback_policy('wb-off', 'enabled')")

    def test_local_edit_reaches_plane(self):
        project, live = self.setup_workspace("wb-on")
        scalar(self.conn, "SELECT work_plane.set_writeback_policy('wb-on', 'enabled', 'keep_local')")
        target = live[0]["id"]
        state = [s for s in self.sim.state("wb-on")["states"] if s["id"] != live[0]["state"]][0]["id"]
        cid = scalar(self.conn, "SELECT work_plane.update_work_item('wb-on', %s, %s)",
                     (target, '{"name": "edited in SQL", "priority": "high", "state_plane_id": "%s"}' % state))
        self.assertTrue(scalar(self.conn, "SELECT needs_sync FROM work_plane.items WHERE plane_id = %s", (target,)))
        done = self.wait_change(cid)
        self.assertEqual(done["status"], "applied", done)
        plane = self.plane_item("wb-on", target)
        self.assertEqual((plane["name"], plane["priority"], plane["state"]), ("edited in SQL", "high", state))
        row = query(self.conn, "SELECT * FROM work_plane.items WHERE plane_id = %s", (target,))[0]
        self.assertEqual(row["name"], "edited in SQL")
        self.assertEqual(row["plane_updated_at"], utc(plane["updated_at"]))
        self.assertFalse(row["needs_sync"])
        applied = self.events("wb-on", "writeback_applied")
        self.assertEqual(applied[-1]["plane_response_status"], 200)
        # Creating a work item from SQL.
        cid = scalar(self.conn, "SELECT work_plane.create_work_item('wb-on', %s, %s)",
                     (project, '{"name": "created from SQL", "priority": "low"}'))
        done = self.wait_change(cid)
        self.assertEqual(done["status"], "applied", done)
        self.assertEqual(self.plane_item("wb-on", done["plane_id"])["name"], "created from SQL")
        self.assertEqual(scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s",
                                (done["plane_id"],)), "created from SQL")
        # Bad patches are refused at once with a clear error.
        for bad in ('{"colour": "red"}', '{"priority": "extreme"}', '{"name": 7}', '{}'):
            with self.assertRaises(psycopg2.Error) as ctx:
                scalar(self.conn, "SELECT work_plane.update_work_item('wb-on', %s, %s)", (target, bad))
            self.assertIn("writeback", str(ctx.exception))

    def test_concurrent_change_in_plane_is_a_logged_conflict(self):
        for slug, policy, expected in (("wb-keep", "keep_local", "conflict"), ("wb-plane", "plane_wins", "discarded")):
            project, live = self.setup_workspace(slug)
            scalar(self.conn, "SELECT work_plane.set_writeback_policy(%s, 'enabled', %s)", (slug, policy))
            target = live[1]["id"]
            # Plane hangs for this workspace, so the worker waits while the local edit and a
            # concurrent edit in Plane both happen; then Plane answers again.
            self.sim.faults(hang=True, path_regex=f"/workspaces/{slug}/")
            try:
                cid = scalar(self.conn, "SELECT work_plane.update_work_item(%s, %s, %s)",
                             (slug, target, '{"name": "local edit"}'))
                self.sim.mutate(workspace=slug, op="update", type="work_item", id=target, project=project,
                                fields={"name": "edited in Plane meanwhile"})
            finally:
                self.sim.faults()
            done = self.wait_change(cid)
            self.assertEqual(done["status"], expected, done)
            plane = self.plane_item(slug, target)
            self.assertEqual(plane["name"], "edited in Plane meanwhile")  # Plane left as it was
            self.assertEqual(scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s", (target,)),
                             "edited in Plane meanwhile")  # the mirror follows Plane
            conflict = self.events(slug, "writeback_conflict")[-1]
            self.assertEqual(conflict["details"]["object"], target)
            self.assertNotEqual(conflict["details"]["base_updated_at"], conflict["details"]["plane_updated_at"])
            self.assertEqual(conflict["plane_response_status"], 200)


if __name__ == "__main__":
    unittest.main()
