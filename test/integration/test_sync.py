"""Integration tests of the sync slice: a real Postgres with plane_connector preloaded, the local
Plane simulator, and the mirror compared with the simulator's data row for row."""
import datetime as dt
import json
import unittest

from harness import MirrorTestCase, query, scalar, wait_until


class SyncTest(MirrorTestCase):
    CLUSTER_CONF = [
        "plane.rate_limit_per_minute = 0",
        "plane.max_attempts = 3",
        "plane.http_timeout = '20s'",
    ]

    # ---------------------------------------------------------------- tests
    def test_backfill_matches_simulator_row_for_row(self):
        self.add_workspace("backfill", projects=3, items=130)
        run = self.wait_for_run_end("backfill")  # add_installation alone starts the first sync
        self.assertEqual(run["action"], "sync", run["details"])
        truth = self.assert_mirror_matches("backfill")
        live = [p for p in truth["projects"] if not p.get("archived_at")]
        # 3 projects x 130 items at 50 per page: several pages per project were followed.
        self.assertGreaterEqual(run["details"]["pages"], 1 + 3 * len(live))
        st = self.status("backfill")
        self.assertEqual(st["state"], "idle")
        self.assertIsNotNone(st["last_success_at"])
        self.assertIsNone(st["last_error"])
        d = run["details"]
        self.assertEqual(st["rows_done"], sum(d[k] for k in ("projects", "work_items", "states",
                                                             "labels", "cycles", "modules")))

    def test_raw_is_the_object_plane_served_numbers_included(self):
        # raw is pushed into jsonb from the parsed page, not from its text: it must still be what
        # the API answered, down to how numbers read (sort_order 65535.0, not 65535).
        import urllib.request
        key = self.add_workspace("rawcopy", projects=1, items=40)
        self.wait_for_run_end("rawcopy")
        project = [p for p in self.sim.state("rawcopy")["projects"] if not p.get("archived_at")][0]
        req = urllib.request.Request(
            f"{self.sim.url}/api/v1/workspaces/rawcopy/projects/{project['id']}/work-items/?per_page=100",
            headers={"X-API-Key": key})
        with urllib.request.urlopen(req, timeout=30) as resp:
            served = json.loads(resp.read())["results"]
        self.assertGreater(len(served), 0)
        for obj in served:
            row = query(self.conn, "SELECT raw = %s::jsonb AS same, raw->>'sort_order' AS sort_order "
                                   "FROM work_plane.items WHERE workspace_slug = 'rawcopy' AND plane_id = %s",
                        (json.dumps(obj), obj["id"]))[0]
            self.assertTrue(row["same"], obj["id"])
            self.assertEqual(row["sort_order"], json.dumps(obj["sort_order"]))

    def test_utc_offsets_land_as_the_right_instant(self):
        self.add_workspace("offsets", projects=1, items=10, tz="+05:30")
        self.wait_for_run_end("offsets")
        row = query(self.conn, "SELECT raw->>'updated_at' AS text, plane_updated_at "
                               "FROM work_plane.items WHERE workspace_slug = 'offsets' LIMIT 1")[0]
        self.assertTrue(row["text"].endswith("+05:30"), row["text"])
        as_written = dt.datetime.fromisoformat(row["text"])
        self.assertEqual(row["plane_updated_at"], as_written)  # same instant, whatever the offset
        self.assertEqual(row["plane_updated_at"].utcoffset(), dt.timedelta(0))

    def test_second_sync_changes_nothing_but_synced_at(self):
        self.add_workspace("stable", projects=2, items=60)
        self.wait_for_run_end("stable")
        snapshot_sql = ("SELECT plane_id, to_jsonb(i) - 'synced_at' AS body, synced_at "
                        "FROM work_plane.items i WHERE workspace_slug = 'stable' ORDER BY plane_id")
        before = query(self.conn, snapshot_sql)
        run = self.sync("stable", full=True)  # re-reads every row
        self.assertEqual(run["action"], "sync")
        after = query(self.conn, snapshot_sql)
        self.assertEqual([r["body"] for r in before], [r["body"] for r in after])
        self.assertTrue(all(a["synced_at"] > b["synced_at"] for a, b in zip(after, before)))

    def test_changes_in_plane_reach_the_mirror_on_the_next_sync(self):
        self.add_workspace("changes", projects=1, items=20)
        self.wait_for_run_end("changes")
        truth = self.sim.state("changes")
        victim = truth["work_items"][0]
        self.sim.mutate(workspace="changes", op="update", type="work_item", id=victim["id"],
                        project=victim["project"], fields={"name": "renamed in Plane",
                                                           "priority": "urgent"})
        created = self.sim.mutate(workspace="changes", op="create", type="work_item",
                                  project=victim["project"], fields={"name": "brand new"})["object"]
        self.sync("changes")
        self.assert_mirror_matches("changes")
        self.assertEqual(scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s",
                                (created["id"],)), "brand new")

    def test_transient_faults_are_retried(self):
        self.add_workspace("flaky", projects=1, items=80, store_key=True)
        self.wait_for_run_end("flaky")
        self.sim.faults(fail_next=2, error_status=503)
        run = self.sync("flaky")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertGreaterEqual(run["details"]["retries"], 2)
        self.sim.faults(malformed_rate=1.0, path_regex="flaky/projects/$")
        # Every projects page comes back garbled: the run fails after plane.max_attempts, clearly.
        run = self.sync("flaky")
        self.sim.faults()
        self.assertEqual(run["action"], "sync_failed")
        self.assertIn("not valid JSON", run["details"]["error"])
        self.assertEqual(self.status("flaky")["state"], "failed")
        run = self.sync("flaky")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertIsNone(self.status("flaky")["last_error"])

    def test_429_retry_after_is_honoured(self):
        self.add_workspace("throttled", projects=1, items=30)
        self.wait_for_run_end("throttled")
        self.sim.faults(rate_429_next=2)
        run = self.sync("throttled")
        self.sim.faults()
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertGreaterEqual(run["details"]["throttled"], 2)
        # Retry-After: 1 was honoured twice, so the run cannot have been quicker than that.
        self.assertGreaterEqual(run["details"]["duration_ms"], 2000)
        self.assert_mirror_matches("throttled")

    def test_wrong_key_is_a_clear_error_and_never_logged(self):
        key = "plane_api_WRONG_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
        self.add_workspace("wrongkey", projects=1, items=5, store_key=False)
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_api_key:wrongkey')", (key,))
        run = self.wait_for_run_end("wrongkey")
        self.assertEqual(run["action"], "sync_failed")
        self.assertEqual(run["plane_response_status"], 403)
        # A wrong key is a 403 on every endpoint: on the workspace's project list that is the
        # credential's fault (on a project's list it would only close that project).
        self.assertIn("refused the credential on the workspace's project list", run["details"]["error"])
        self.assertIn("HTTP 403", run["details"]["error"])
        st = self.status("wrongkey")
        self.assertEqual(st["state"], "failed")
        for text in (str(run["details"]), st["last_error"], self.cluster.server_log()):
            self.assertNotIn(key, text)
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM ops.run_events "
                                           "WHERE details::text LIKE %s", (f"%{key}%",)), 0)

    def test_missing_secret_names_the_secret(self):
        self.add_workspace("nokey", projects=1, items=5, store_key=False)
        run = self.wait_for_run_end("nokey")
        self.assertEqual(run["action"], "sync_failed")
        # The workspace-less plane_api_key is for Plane Cloud's hosts only: never sent to this one.
        self.assertIn("no Vault secret named 'plane_api_key:nokey'", run["details"]["error"])
        self.assertNotIn("or 'plane_api_key'", run["details"]["error"])
        self.assertIn("vault.create_secret", run["details"]["error"])

    def test_interrupted_scan_resumes_from_its_saved_cursor(self):
        self.add_workspace("resume", projects=1, items=200)
        self.wait_for_run_end("resume")
        project = self.sim.state("resume")["projects"][0]["id"]
        # A full rescan in which the third page of work items keeps failing.
        self.sim.faults(error_rate=1.0, error_status=502, path_regex=r"cursor=50%3A2%3A0|cursor=50:2:0")
        run = self.sync("resume", full=True)
        self.assertEqual(run["action"], "sync_failed", run["details"])
        saved = scalar(self.conn, "SELECT cursor FROM work_plane.events_cursor "
                                  "WHERE workspace_slug = 'resume' AND resource = %s",
                       ("work_items:" + project,))
        self.assertEqual(saved, "50:2:0")
        self.sim.faults()
        self.sim.control("POST", "stats/reset")
        run = self.sync("resume")
        self.assertEqual(run["action"], "sync", run["details"])
        # Work item pages 2 and 3 only (100 of 200 rows): pages 0 and 1 were not fetched again.
        self.assertEqual(run["details"]["work_items"], 100)
        self.assertEqual(run["details"]["backfill_projects"], 1)
        self.assert_mirror_matches("resume")
        self.assertIsNone(scalar(self.conn, "SELECT cursor FROM work_plane.events_cursor "
                                            "WHERE workspace_slug = 'resume' AND resource = %s",
                                 ("work_items:" + project,)))

    def test_sigterm_stops_a_hung_sync_within_a_second_and_sync_now_returns_at_once(self):
        self.add_workspace("hung", projects=1, items=10)
        self.wait_for_run_end("hung")
        self.sim.faults(hang=True, path_regex="hung/")
        try:
            before = self.last_event_id()
            self.assertTrue(scalar(self.conn, "SELECT work_plane.sync_now('hung')"))
            # sync_now returned while Plane hangs: the request is the workers' business now.
            pid = wait_until(lambda: scalar(
                self.conn, "SELECT worker_pid FROM work_plane.sync_status "
                           "WHERE workspace_slug = 'hung' AND running"), timeout=20,
                message="running sync worker")
            self.assertIn("syncing workspace hung", scalar(
                self.conn, "SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)))
            # Requests coalesce while it runs.
            self.assertTrue(scalar(self.conn, "SELECT work_plane.sync_now('hung')"))
            self.assertTrue(scalar(self.conn, "SELECT pg_terminate_backend(%s)", (pid,)))
            wait_until(lambda: not scalar(
                self.conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)),
                timeout=1.5, interval=0.02, message="the sync worker to exit after SIGTERM")
            run = self.wait_for_run_end("hung", before)
            self.assertEqual(run["action"], "sync_failed")
            self.assertEqual(run["details"]["state"], "interrupted")
        finally:
            self.sim.faults()
        # The coalesced request runs once Plane answers again.
        wait_until(lambda: (self.status("hung") or {}).get("state") == "idle"
                   and self.status("hung")["last_error"] is None, timeout=60,
                   message="the coalesced sync to succeed")
        self.assert_mirror_matches("hung")

    def test_launcher_is_restarted_when_it_dies(self):
        pid = wait_until(lambda: scalar(self.conn, "SELECT work_plane.launcher_pid()"),
                         message="launcher")
        self.assertTrue(scalar(self.conn, "SELECT pg_terminate_backend(%s)", (pid,)))
        new_pid = wait_until(lambda: (lambda p: p if p and p != pid else None)(
            scalar(self.conn, "SELECT work_plane.launcher_pid()")), timeout=30,
            message="a new launcher")
        self.assertNotEqual(new_pid, pid)
        self.add_workspace("afterrestart", projects=1, items=5)
        run = self.wait_for_run_end("afterrestart")
        self.assertEqual(run["action"], "sync")


if __name__ == "__main__":
    unittest.main()
