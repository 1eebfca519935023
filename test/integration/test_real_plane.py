"""The real Plane's behaviours that break a mirror (shared/plane-api.md section 11), each switched on
in the simulator, and the connector surviving it: projects the key cannot read, changes that move
neither updated_at nor send a webhook, servers without the work-items/ route, optional resources
refused, ties in offset paging, cycle days in the project's zone, page-size caps, v2 payloads in
Cloud's shape, writes Plane trims — and all of them at once."""
import json
import unittest

import psycopg2

from harness import MirrorTestCase, query, scalar, utc, wait_until


class RealPlaneTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.refresh_interval = 0"]

    def requests(self):
        return self.sim.control("GET", "requests")["requests"]

    def paths_since(self, mark, contains):
        return [r for r in self.requests()[mark:] if contains in r["path"]]

    def visible_truth(self, slug):
        """What the key can see: projects listed to it, and the rows under the projects it reads."""
        truth = self.sim.state(slug)
        readable = {p["id"] for p in truth["projects"] if p.get("is_member", True)}
        return truth, readable

    # --------------------------------------------------------------- projects the key cannot read
    def test_public_projects_the_key_never_joined_are_recorded_not_failed(self):
        seeded = self.sim.seed(workspace="public", projects=2, items_per_project=30, tz="+05:30",
                               api_key="plane_api_public_0123456789abcdef01234", seed=11,
                               non_member_projects=1)
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_api_key:public')", (seeded["api_key"],))
        scalar(self.conn, "SELECT work_plane.add_installation('public', api_url => %s)", (self.sim.url,))
        run = self.wait_for_run_end("public")
        self.assertEqual(run["action"], "sync", run["details"])
        outsider = seeded["non_member_projects"][0]
        self.assertEqual([p["id"] for p in run["details"]["unreadable_projects"]], [outsider])
        row = query(self.conn, "SELECT access, is_member, access_reason FROM work_plane.projects "
                               "WHERE workspace_slug = 'public' AND plane_id = %s", (outsider,))[0]
        self.assertEqual((row["access"], row["is_member"]), ("not_member", False))
        st = self.status("public")
        self.assertEqual(st["unreadable_projects"], 1)
        self.assertEqual(st["unreadable_project_list"][0]["access"], "not_member")
        self.assertIsNone(st["last_error"])
        # Nothing of it is mirrored, and its lists were never asked for.
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'public' "
                                           "AND project_plane_id = %s", (outsider,)), 0)
        self.assertEqual([r for r in self.requests() if f"/projects/{outsider}/" in r["path"]], [])
        readable = [p["id"] for p in seeded["projects"] if p["is_member"]]
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'public' "
                                           "AND item_type = 'issue'"), 30 * len(readable))
        # A full sync checks again, once: still closed (403 on its first list).
        mark = len(self.requests())
        run = self.sync("public", full=True)
        self.assertEqual(run["action"], "sync", run["details"])
        asked = self.paths_since(mark, f"/projects/{outsider}/")
        self.assertEqual(len(asked), 1)
        self.assertEqual(asked[0]["status"], 403)
        self.assertEqual(scalar(self.conn, "SELECT access FROM work_plane.projects WHERE workspace_slug = 'public' "
                                           "AND plane_id = %s", (outsider,)), "not_member")

    def test_a_project_closed_to_the_key_later_keeps_its_rows_and_the_run_succeeds(self):
        self.add_workspace("closing", projects=2, items=20)
        self.assertEqual(self.wait_for_run_end("closing")["action"], "sync")
        project = self.sim.state("closing")["projects"][0]["id"]
        before = scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'closing' "
                                   "AND project_plane_id = %s AND gone_at IS NULL", (project,))
        self.assertGreater(before, 0)
        # The key's user leaves the project; Plane still lists it (public), its lists answer 403.
        self.sim.config(workspace="closing", project=project, member=False)
        run = self.sync("closing", full=True)
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertEqual(scalar(self.conn, "SELECT access FROM work_plane.projects WHERE workspace_slug = 'closing' "
                                           "AND plane_id = %s", (project,)), "not_member")
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'closing' "
                                           "AND project_plane_id = %s AND gone_at IS NULL", (project,)), before)
        # Membership restored: a full sync reads it again.
        self.sim.config(workspace="closing", project=project, member=True)
        run = self.sync("closing", full=True)
        self.assertEqual(scalar(self.conn, "SELECT access FROM work_plane.projects WHERE workspace_slug = 'closing' "
                                           "AND plane_id = %s", (project,)), "readable")
        self.assert_mirror_matches("closing")

    def test_a_project_deleted_during_the_run_is_gone_not_a_credential_failure(self):
        self.add_workspace("deleting", projects=2, items=10)
        self.assertEqual(self.wait_for_run_end("deleting")["action"], "sync")
        project = self.sim.state("deleting")["projects"][1]["id"]
        self.sim.mutate(workspace="deleting", op="delete", type="project", id=project)
        run = self.sync("deleting", full=True)
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertIsNotNone(scalar(self.conn, "SELECT gone_at FROM work_plane.projects "
                                               "WHERE workspace_slug = 'deleting' AND plane_id = %s", (project,)))
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'deleting' "
                                           "AND project_plane_id = %s AND gone_at IS NULL", (project,)), 0)

    # --------------------------------------------------------------- older servers
    def test_a_server_without_the_work_items_route_is_read_through_issues(self):
        self.sim.seed(workspace="oldce", projects=2, items_per_project=60, tz="+05:30",
                      api_key="plane_api_oldce_0123456789abcdef0123456", seed=5)
        self.sim.config(workspace="oldce", work_items_route=False)
        scalar(self.conn, "SELECT vault.create_secret('plane_api_oldce_0123456789abcdef0123456', 'plane_api_key:oldce')")
        scalar(self.conn, "SELECT work_plane.add_installation('oldce', api_url => %s)", (self.sim.url,))
        run = self.wait_for_run_end("oldce")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertEqual(run["details"]["work_items_route"], "issues")
        self.assertEqual(self.status("oldce")["work_items_route"], "issues")
        self.assert_mirror_matches("oldce")
        # Remembered: the next run asks issues/ straight away, and reconciliation too.
        mark = len(self.requests())
        self.assertEqual(self.sync("oldce", full=True)["action"], "sync")
        self.assertEqual(self.paths_since(mark, "/work-items/"), [])
        # Writeback goes to issues/ as well, and an existing item is never taken for gone.
        scalar(self.conn, "SELECT work_plane.set_writeback_policy('oldce', 'enabled', conflict_policy => 'keep_local')")
        item = self.sim.state("oldce")["work_items"][0]["id"]
        change = scalar(self.conn, "SELECT work_plane.update_work_item('oldce', %s, %s)",
                        (item, json.dumps({"name": "written to an old server"})))
        wait_until(lambda: scalar(self.conn, "SELECT status FROM work_plane.pending_changes WHERE id = %s",
                                  (change,)) != "pending", message="the change to be written")
        self.assertEqual(scalar(self.conn, "SELECT status FROM work_plane.pending_changes WHERE id = %s", (change,)),
                         "applied")
        self.assertEqual([w for w in self.sim.state("oldce")["work_items"] if w["id"] == item][0]["name"],
                         "written to an old server")

    # --------------------------------------------------------------- optional resources refused
    def test_pages_refused_by_scope_or_plan_are_recorded_once(self):
        self.sim.seed(workspace="nopages", projects=1, items_per_project=10, tz="Z",
                      api_key="plane_api_nopages_0123456789abcdef01234", seed=3, pages_enabled=True)
        self.sim.config(workspace="nopages", refuse={"pages": 403, "archived-cycles": 400})
        scalar(self.conn, "SELECT vault.create_secret('plane_api_nopages_0123456789abcdef01234', 'plane_api_key:nopages')")
        scalar(self.conn, "SELECT work_plane.add_installation('nopages', api_url => %s)", (self.sim.url,))
        run = self.wait_for_run_end("nopages")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertEqual(set(run["details"]["unavailable"]), {"pages", "archived_cycles"})
        unavailable = self.status("nopages")["unavailable_resources"]
        self.assertIn("403", unavailable["pages"])
        self.assertIn("400", unavailable["archived_cycles"])
        self.assertGreater(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'nopages' "
                                             "AND item_type = 'issue'"), 0)
        # Not asked again by a normal run; asked again by a full one.
        mark = len(self.requests())
        self.assertEqual(self.sync("nopages")["action"], "sync")
        self.assertEqual(self.paths_since(mark, "/pages/"), [])
        self.assertEqual(self.paths_since(mark, "/archived-cycles/"), [])
        self.sim.config(workspace="nopages", refuse={})
        run = self.sync("nopages", full=True)
        self.assertEqual(run["details"]["unavailable"], {})
        self.assertGreater(run["details"]["pages_mirrored"], 0)
        self.assertEqual(self.status("nopages")["unavailable_resources"], {})

    # --------------------------------------------------------------- ties in offset paging
    def test_ties_reshuffled_between_pages_never_mark_rows_gone(self):
        self.sim.seed(workspace="ties", projects=1, items_per_project=40, tz="Z",
                      api_key="plane_api_ties_0123456789abcdef012345678", seed=9,
                      cycles_per_project=12, modules_per_project=12, labels_per_project=8,
                      tied_timestamps=True, tied_project_created_at=True)
        self.sim.config(workspace="ties", tie_shuffle=True)
        scalar(self.conn, "SELECT vault.create_secret('plane_api_ties_0123456789abcdef012345678', 'plane_api_key:ties')")
        scalar(self.conn, "ALTER SYSTEM SET plane.page_size = 5")
        scalar(self.conn, "SELECT pg_reload_conf()")
        try:
            scalar(self.conn, "SELECT work_plane.add_installation('ties', api_url => %s)", (self.sim.url,))
            self.assertEqual(self.wait_for_run_end("ties")["action"], "sync")
            for _ in range(3):
                run = self.sync("ties")
                self.assertEqual(run["action"], "sync", run["details"])
        finally:
            scalar(self.conn, "ALTER SYSTEM RESET plane.page_size")
            scalar(self.conn, "SELECT pg_reload_conf()")
        truth = self.sim.state("ties")
        for kind, key in (("cycle", "cycles"), ("module", "modules")):
            live = {r["plane_id"] for r in query(
                self.conn, "SELECT plane_id FROM work_plane.items WHERE workspace_slug = 'ties' "
                           "AND item_type = %s AND gone_at IS NULL", (kind,))}
            self.assertEqual(live, {o["id"] for o in truth[key] if not o.get("archived_at")}, kind)
        labels = {r["plane_id"] for r in query(self.conn, "SELECT plane_id FROM work_plane.labels "
                                                          "WHERE workspace_slug = 'ties' AND gone_at IS NULL")}
        self.assertEqual(labels, {o["id"] for o in truth["labels"]})

    # --------------------------------------------------------------- cycle days
    def test_cycle_days_are_the_projects_calendar_days(self):
        self.sim.seed(workspace="zones", projects=2, items_per_project=5, tz="Z",
                      api_key="plane_api_zones_0123456789abcdef0123456", seed=4, cycles_per_project=3,
                      project_timezones=["Asia/Kolkata", "America/Los_Angeles"])
        scalar(self.conn, "SELECT vault.create_secret('plane_api_zones_0123456789abcdef0123456', 'plane_api_key:zones')")
        scalar(self.conn, "SELECT work_plane.add_installation('zones', api_url => %s)", (self.sim.url,))
        self.assertEqual(self.wait_for_run_end("zones")["action"], "sync")
        truth = self.sim.state("zones")
        shifted = 0
        for c in truth["cycles"]:
            row = query(self.conn, "SELECT start_date::text AS s, target_date::text AS t FROM work_plane.items "
                                   "WHERE workspace_slug = 'zones' AND plane_id = %s", (c["id"],))[0]
            self.assertEqual((row["s"], row["t"]), (c["_start_day"], c["_end_day"]), c["id"])
            shifted += c["start_date"][:10] != c["_start_day"] or c["end_date"][:10] != c["_end_day"]
        self.assertGreater(shifted, 0)  # the rendered text really was a day off for some

    # --------------------------------------------------------------- memberships
    def test_work_items_know_their_cycle_and_modules(self):
        import urllib.request
        key = self.add_workspace("members", projects=1, items=30, cycles_per_project=2, modules_per_project=2)
        self.assertEqual(self.wait_for_run_end("members")["action"], "sync")
        # The first sync read the current cycles' and open modules' lists before the work items, and
        # inserted the rows with their membership: no row was written a second time to add it.
        self.assertGreater(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'members' "
                                             "AND (cycle_plane_id IS NOT NULL OR module_ids <> '{}')"), 0)
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.item_history WHERE "
                                           "workspace_slug = 'members' AND field IN ('cycle', 'modules')"), 0)
        run = self.sync("members", full=True)  # every cycle, current or not
        self.assertGreaterEqual(run["details"]["memberships"], 4)
        truth = self.sim.state("members")
        project = truth["projects"][0]["id"]

        def listed(path):
            req = urllib.request.Request(f"{self.sim.url}/api/v1/workspaces/members/projects/{project}/{path}"
                                         "?per_page=1000", headers={"X-API-Key": key})
            with urllib.request.urlopen(req, timeout=30) as resp:
                return {o["id"] for o in json.loads(resp.read())["results"]}
        seen_any = False
        for c in truth["cycles"]:
            expected = listed(f"cycles/{c['id']}/cycle-issues/")
            got = {r["plane_id"] for r in query(self.conn, "SELECT plane_id FROM work_plane.items "
                                                           "WHERE workspace_slug = 'members' AND cycle_plane_id = %s",
                                                (c["id"],))}
            self.assertEqual(got, expected, c["id"])
            seen_any |= bool(expected)
        for m in truth["modules"]:
            expected = listed(f"modules/{m['id']}/module-issues/")
            got = {r["plane_id"] for r in query(self.conn, "SELECT plane_id FROM work_plane.items "
                                                           "WHERE workspace_slug = 'members' AND %s = ANY (module_ids)",
                                                (m["id"],))}
            self.assertEqual(got, expected, m["id"])
            seen_any |= bool(expected)
        self.assertTrue(seen_any)
        # An update of the work item (which carries no membership) keeps it: the upsert never
        # writes cycle_plane_id or module_ids of an existing row.
        member = query(self.conn, "SELECT plane_id, project_plane_id, cycle_plane_id, module_ids FROM work_plane.items "
                                  "WHERE workspace_slug = 'members' AND cycle_plane_id IS NOT NULL "
                                  "AND module_ids <> '{}' LIMIT 1") or \
            query(self.conn, "SELECT plane_id, project_plane_id, cycle_plane_id, module_ids FROM work_plane.items "
                             "WHERE workspace_slug = 'members' AND (cycle_plane_id IS NOT NULL OR module_ids <> '{}') "
                             "LIMIT 1")
        self.assertTrue(member)
        m = member[0]
        self.sim.mutate(workspace="members", op="update", type="work_item", id=m["plane_id"],
                        project=m["project_plane_id"], fields={"name": "renamed, still a member"})
        self.sync("members")
        row = query(self.conn, "SELECT name, cycle_plane_id, module_ids FROM work_plane.items WHERE plane_id = %s",
                    (m["plane_id"],))[0]
        self.assertEqual(row["name"], "renamed, still a member")
        self.assertEqual((row["cycle_plane_id"], row["module_ids"]), (m["cycle_plane_id"], m["module_ids"]))

    # --------------------------------------------------------------- page-size caps
    def test_the_largest_page_the_server_allows_is_learned(self):
        for slug, mode in (("cloudcap", "reject"), ("clampcap", "clamp")):
            key = f"plane_api_{slug}_0123456789abcdef012345"
            self.sim.seed(workspace=slug, projects=1, items_per_project=260, tz="Z", api_key=key, seed=2)
            self.sim.config(workspace=slug, page_size_cap=100, page_size_mode=mode)
            scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (key, f"plane_api_key:{slug}"))
            scalar(self.conn, "ALTER SYSTEM SET plane.page_size = 1000")
            scalar(self.conn, "SELECT pg_reload_conf()")
            try:
                scalar(self.conn, "SELECT work_plane.add_installation(%s, api_url => %s)", (slug, self.sim.url))
                run = self.wait_for_run_end(slug)
            finally:
                scalar(self.conn, "ALTER SYSTEM RESET plane.page_size")
                scalar(self.conn, "SELECT pg_reload_conf()")
            self.assertEqual(run["action"], "sync", run["details"])
            self.assertEqual(run["details"]["page_size"], 100, mode)
            self.assertEqual(self.status(slug)["page_size"], 100)
            self.assert_mirror_matches(slug)

    # --------------------------------------------------------------- one shape of raw
    def test_cloud_shaped_v2_deliveries_land_in_the_rest_shape(self):
        webhook_secret = "plane_wh_cloudv2_0123456789abcdef"
        self.add_workspace("cloudv2", projects=1, items=5, webhook_secret=webhook_secret)
        self.assertEqual(self.wait_for_run_end("cloudv2")["action"], "sync")
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_webhook_secret:cloudv2')", (webhook_secret,))
        self.sim.config(workspace="cloudv2", v2_shape="cloud")
        item = self.sim.state("cloudv2")["work_items"][0]
        synced_keys = set(scalar(self.conn, "SELECT raw FROM work_plane.items WHERE plane_id = %s", (item["id"],)))
        out = self.sim.mutate(workspace="cloudv2", op="update", type="work_item", id=item["id"],
                              project=item["project"], fields={"name": "renamed in the cloud", "parent": None},
                              deliver_versions=["v2"])
        delivery = [w for w in out["webhooks"] if w["version"] == "v2"][0]
        self.assertIn('"state_id"', delivery["body"])
        status = scalar(self.conn, "SELECT work_plane.ingest_webhook('cloudv2', %s::jsonb, %s)",
                        (json.dumps(delivery["headers"]), delivery["body"]))
        self.assertEqual(status, 200)
        wait_until(lambda: scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s",
                                  (item["id"],)) == "renamed in the cloud", message="the delivery applied")
        row = query(self.conn, "SELECT raw, state_plane_id, parent_plane_id, change_source FROM work_plane.items "
                               "WHERE plane_id = %s", (item["id"],))[0]
        self.assertEqual(row["change_source"], "webhook")
        self.assertEqual(row["state_plane_id"], item["state"])
        self.assertIsNone(row["parent_plane_id"])
        raw = row["raw"]
        self.assertEqual(raw["state"], item["state"])
        self.assertIsNone(raw["parent"])
        for v2_name in ("state_id", "label_ids", "assignee_ids", "parent_id", "project_id"):
            self.assertNotIn(v2_name, raw)
        self.assertNotIn("None", json.dumps(raw))
        self.assertTrue(raw["updated_at"].endswith("Z"), raw["updated_at"])
        self.assertLessEqual({"state", "labels", "assignees", "parent", "project"}, set(raw))
        self.assertLessEqual({"state", "labels", "assignees", "parent", "project"}, synced_keys)
        # The queue keeps the delivery as received.
        queued = scalar(self.conn, "SELECT payload FROM ops.event_queue WHERE workspace_slug = 'cloudv2' "
                                   "ORDER BY id DESC LIMIT 1")
        self.assertIn("state_id", queued["data"])


class AllAtOnceTest(MirrorTestCase):
    """Every behaviour at once, as a multi-team Plane Cloud workspace on an older route would
    show them: the mirror equals exactly what the key can see, no run fails, and sync_status says
    what it could not read."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]
    PAGE_SIZE = 1000  # the server's cap (100) is learned

    def test_a_real_workspace(self):
        key = "plane_api_real_0123456789abcdef0123456789"
        seeded = self.sim.seed(workspace="real", projects=3, items_per_project=150, tz="+05:30", api_key=key,
                               seed=21, pages_enabled=True, non_member_projects=2, tied_timestamps=True,
                               project_timezones=["Asia/Kolkata", "America/Los_Angeles", "Europe/Berlin"],
                               cycles_per_project=4, project_member_fraction=0.5)
        self.sim.config(workspace="real", profile="real", work_items_route=False)
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_api_key:real')", (key,))
        scalar(self.conn, "SELECT work_plane.add_installation('real', api_url => %s)", (self.sim.url,))
        runs = [self.wait_for_run_end("real")]
        runs.append(self.sync("real"))
        runs.append(self.sync("real", full=True))
        for run in runs:
            self.assertEqual(run["action"], "sync", run["details"])
        truth = self.sim.state("real")
        readable = {p["id"] for p in seeded["projects"] if p["is_member"]}
        outsiders = set(seeded["non_member_projects"])
        self.assertEqual(len(outsiders), 2)
        # Projects: every listed one, with its access.
        mirrored = {r["plane_id"]: r["access"] for r in query(
            self.conn, "SELECT plane_id, access FROM work_plane.projects WHERE workspace_slug = 'real' AND gone_at IS NULL")}
        self.assertEqual(set(mirrored), {p["id"] for p in truth["projects"]})
        self.assertEqual({p for p, a in mirrored.items() if a != "readable"}, outsiders)
        # Work items, cycles and modules: exactly those of the readable projects.
        for kind, key_ in (("issue", "work_items"), ("cycle", "cycles"), ("module", "modules")):
            expected = {o["id"] for o in truth[key_] if o["project"] in readable and not o.get("archived_at")
                        and not o.get("is_draft") and not o.get("_triage")}
            got = {r["plane_id"] for r in query(
                self.conn, "SELECT plane_id FROM work_plane.items WHERE workspace_slug = 'real' AND item_type = %s "
                           "AND gone_at IS NULL", (kind,))}
            self.assertEqual(got, expected, kind)
        for c in truth["cycles"]:
            if c["project"] not in readable:
                continue
            row = query(self.conn, "SELECT start_date::text AS s, target_date::text AS t FROM work_plane.items "
                                   "WHERE workspace_slug = 'real' AND plane_id = %s", (c["id"],))[0]
            self.assertEqual((row["s"], row["t"]), (c["_start_day"], c["_end_day"]))
        # What it could not read, explained.
        st = self.status("real")
        self.assertIsNone(st["last_error"])
        self.assertEqual(st["unreadable_projects"], 2)
        self.assertEqual({p["id"] for p in st["unreadable_project_list"]}, outsiders)
        self.assertIn("pages", st["unavailable_resources"])
        self.assertIn("403", st["unavailable_resources"]["pages"])
        self.assertEqual((st["page_size"], st["work_items_route"]), (100, "issues"))


class DriftRefreshTest(MirrorTestCase):
    """Plane changes state, dates and parent in bulk without moving updated_at or sending a
    webhook: the incremental scan cannot see it; the refresh re-reads every row."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.refresh_interval = '1h'"]

    def test_bulk_changes_are_found_by_the_refresh_and_a_full_sync(self):
        self.add_workspace("drift", projects=1, items=120)  # more than one page of 50
        self.assertEqual(self.wait_for_run_end("drift")["action"], "sync")
        truth = self.sim.state("drift")
        states = [s["id"] for s in truth["states"]]
        # The least recently updated items: an incremental scan (newest first) stops before them.
        by_age = sorted(truth["work_items"], key=lambda w: w["updated_at"])
        victim, second = by_age[0], by_age[1]
        other_state = next(s for s in states if s != victim["state"])
        out = self.sim.mutate(workspace="drift", op="bulk_update", type="work_item", id=victim["id"],
                              project=victim["project"], fields={"state": other_state, "target_date": "2031-01-31"})
        self.assertEqual(out["webhooks"], [])
        # An incremental run does not see it (updated_at did not move).
        self.assertEqual(self.sync("drift")["action"], "sync")
        self.assertEqual(scalar(self.conn, "SELECT state_plane_id FROM work_plane.items WHERE plane_id = %s",
                                (victim["id"],)), victim["state"])
        # A full sync re-reads every row at once.
        run = self.sync("drift", full=True)
        self.assertEqual(scalar(self.conn, "SELECT state_plane_id FROM work_plane.items WHERE plane_id = %s",
                                (victim["id"],)), other_state)
        self.assertEqual(str(scalar(self.conn, "SELECT target_date FROM work_plane.items WHERE plane_id = %s",
                                    (victim["id"],))), "2031-01-31")
        # The periodic refresh: due once plane.refresh_interval has passed since the last full read.
        self.sim.mutate(workspace="drift", op="bulk_update", type="work_item", id=second["id"],
                        project=second["project"], fields={"state": other_state})
        scalar(self.conn, "UPDATE work_plane.events_cursor SET last_full_sync = now() - interval '2 hours' "
                          "WHERE workspace_slug = 'drift' AND resource LIKE 'refresh:%'")
        run = self.sync("drift")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertGreaterEqual(run["details"]["refreshed"], 120)
        row = query(self.conn, "SELECT state_plane_id, change_source FROM work_plane.items WHERE plane_id = %s",
                    (second["id"],))[0]
        self.assertEqual((row["state_plane_id"], row["change_source"]), (other_state, "refresh"))
        # Not due again right after.
        self.assertEqual(self.sync("drift")["details"]["refreshed"], 0)


class TrimmedWritesTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def test_values_plane_drops_make_the_change_partial(self):
        seeded = self.sim.seed(workspace="trim", projects=2, items_per_project=5, tz="Z",
                               api_key="plane_api_trim_0123456789abcdef012345678", seed=8, members=4,
                               project_member_fraction=0.5)
        self.sim.config(workspace="trim", trim_writes=True)
        scalar(self.conn, "SELECT vault.create_secret('plane_api_trim_0123456789abcdef012345678', 'plane_api_key:trim')")
        scalar(self.conn, "SELECT work_plane.add_installation('trim', api_url => %s)", (self.sim.url,))
        self.assertEqual(self.wait_for_run_end("trim")["action"], "sync")
        scalar(self.conn, "SELECT work_plane.set_writeback_policy('trim', 'enabled', conflict_policy => 'keep_local')")
        truth = self.sim.state("trim")
        project = truth["projects"][0]
        item = next(w for w in truth["work_items"] if w["project"] == project["id"])
        outsider = next(u["id"] for u in seeded["users"] if project["id"] not in u["projects"])
        foreign_label = next(l["id"] for l in truth["labels"] if l["project"] != project["id"])
        own_label = next(l["id"] for l in truth["labels"] if l["project"] == project["id"])
        change = scalar(self.conn, "SELECT work_plane.update_work_item('trim', %s, %s)",
                        (item["id"], json.dumps({"assignee_ids": [outsider],
                                                 "label_ids": [own_label, foreign_label]})))
        wait_until(lambda: scalar(self.conn, "SELECT status FROM work_plane.pending_changes WHERE id = %s",
                                  (change,)) != "pending", message="the change to be written")
        row = query(self.conn, "SELECT status, last_error, dropped FROM work_plane.pending_changes WHERE id = %s",
                    (change,))[0]
        self.assertEqual(row["status"], "partial")
        self.assertEqual(row["dropped"], {"assignees": [outsider], "labels": [foreign_label]})
        self.assertIn(outsider, row["last_error"])
        self.assertIn(foreign_label, row["last_error"])
        audit = query(self.conn, "SELECT details FROM ops.run_events WHERE action = 'writeback_partial' "
                                 "AND details->>'change_id' = %s", (str(change),))
        self.assertEqual(len(audit), 1)
        self.assertEqual(audit[0]["details"]["dropped"]["labels"], [foreign_label])
        # The mirror holds what Plane kept.
        self.assertEqual(scalar(self.conn, "SELECT label_ids FROM work_plane.items WHERE plane_id = %s",
                                (item["id"],)), [own_label])


if __name__ == "__main__":
    unittest.main()
