"""Content, search and history through the real pipeline: the sync worker and the queue worker
write description_text and page content_text, the triggers keep search documents, chunks and
item_history in the same transactions, each change recorded with the source that wrote it."""
import json
import unittest

from harness import MirrorTestCase, query, scalar, wait_until

SECRET = "plane_wh_content_0123456789abcdef01234567"


class ContentTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.refresh_interval = 0", "plane.page_content_fetches = 4"]

    def requests(self):
        return self.sim.control("GET", "requests")["requests"]

    def page_details_since(self, mark):
        """Page GETs of one page (not a list) since request number `mark`."""
        return [r for r in self.requests()[mark:]
                if "/pages/" in r["path"] and not r["path"].endswith("/pages/")]

    def test_pages_listed_without_content_are_read_once_and_again_when_changed(self):
        key = "plane_api_wiki_0123456789abcdef0123456789"
        self.sim.seed(workspace="wiki", projects=2, items_per_project=5, tz="Z", api_key=key, seed=4,
                      pages_enabled=True, pages_per_project=3)
        self.sim.config(workspace="wiki", page_list_content=False)
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_api_key:wiki')", (key,))
        scalar(self.conn, "SELECT work_plane.add_installation('wiki', api_url => %s)", (self.sim.url,))
        truth = {p["id"]: p for p in self.sim.state("wiki")["pages"] if not p.get("archived_at")}
        self.assertGreater(len(truth), 4)
        # Runs until every page's content was read, at most plane.page_content_fetches (4) a run.
        runs = [self.wait_for_run_end("wiki")]
        for _ in range(len(truth)):
            if runs[-1]["details"].get("pages_waiting", 0) == 0 and not scalar(
                    self.conn, "SELECT count(*) FROM work_plane.pages WHERE workspace_slug = 'wiki' "
                               "AND content_text IS NULL"):
                break
            runs.append(self.sync("wiki"))
        for run in runs:
            self.assertEqual(run["action"], "sync", run["details"])
            self.assertLessEqual(run["details"]["page_details"], 4)
        self.assertTrue(any(r["details"]["pages_waiting"] > 0 for r in runs), "the budget never held pages back")
        rows = {r["plane_id"]: r for r in query(
            self.conn, "SELECT plane_id, content_text, raw ->> 'description_html' AS html FROM work_plane.pages "
                       "WHERE workspace_slug = 'wiki' AND gone_at IS NULL")}
        self.assertEqual(set(rows), set(truth))
        for pid, page in truth.items():
            self.assertEqual(rows[pid]["html"], page["description_html"])
            self.assertEqual(rows[pid]["content_text"], page["name"])  # "<p>{name}</p>"

        # Nothing changed: no page is read again.
        mark = len(self.requests())
        run = self.sync("wiki")
        self.assertEqual(run["details"]["page_details"], 0)
        self.assertEqual(self.page_details_since(mark), [])

        # One page edited (no webhook for pages): the next sync reads it, and only it.
        target = sorted(truth)[0]
        self.sim.mutate(workspace="wiki", op="update", type="page", id=target,
                        fields={"description_html": "<h2>Operations</h2><p>Restart the ingest worker "
                                                    "after a deploy.</p>"})
        mark = len(self.requests())
        run = self.sync("wiki")
        self.assertEqual(run["details"]["page_details"], 1)
        self.assertEqual(len(self.page_details_since(mark)), 1)
        self.assertEqual(scalar(self.conn, "SELECT content_text FROM work_plane.pages WHERE plane_id = %s",
                                (target,)), "Operations\nRestart the ingest worker after a deploy.")
        chunk = query(self.conn, "SELECT heading_path, content FROM work_plane.content_chunks "
                                 "WHERE kind = 'page' AND plane_id = %s", (target,))
        self.assertEqual(len(chunk), 1)
        self.assertEqual(chunk[0]["heading_path"], ["Operations"])
        hits = query(self.conn, "SELECT kind, plane_id FROM work_plane.search('restart ingest worker', 'wiki')")
        self.assertEqual([(h["kind"], h["plane_id"]) for h in hits][:1], [("page", target)])

    def test_descriptions_history_and_search_follow_sync_and_webhooks(self):
        self.add_workspace("desc", projects=1, items=20, tz="Z", webhook_secret=SECRET)
        self.assertEqual(self.wait_for_run_end("desc")["action"], "sync")
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_webhook_secret:desc')", (SECRET,))
        # Every description as the mapper's plain text, the same as the SQL function's.
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'desc' "
                                           "AND item_type = 'issue' AND description_text IS DISTINCT FROM "
                                           "work_plane.html_to_text(raw ->> 'description_html')"), 0)
        # The first sync recorded one observation per work item, from the sync.
        self.assertEqual(
            scalar(self.conn, "SELECT count(*) FROM work_plane.item_history WHERE workspace_slug = 'desc' "
                              "AND field = 'observed' AND source = 'sync'"),
            scalar(self.conn, "SELECT count(*) FROM work_plane.items WHERE workspace_slug = 'desc' "
                              "AND item_type = 'issue'"))
        truth = self.sim.state("desc")
        project = truth["projects"][0]["id"]
        item = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")][0]
        other_state = [s for s in truth["states"] if s["project"] == project and s["id"] != item["state"]][0]

        # A webhook: new description and state, applied by the queue worker.
        out = self.sim.mutate(workspace="desc", op="update", type="work_item", id=item["id"], project=project,
                              fields={"description_html": "<p>Checkout fails with <b>zebra</b> cards</p>",
                                      "state": other_state["id"]})
        for d in [d for d in out["webhooks"] if d["version"] == "v2"]:
            self.assertEqual(scalar(self.conn, "SELECT work_plane.ingest_webhook('desc', %s::jsonb, %s)",
                                    (json.dumps(d["headers"]), d["body"])), 200)
        wait_until(lambda: scalar(self.conn, "SELECT description_text FROM work_plane.items WHERE plane_id = %s",
                                  (item["id"],)) == "Checkout fails with zebra cards",
                   timeout=15, message="the webhook's description in the mirror")
        change = query(self.conn, "SELECT old_value, new_value, source FROM work_plane.item_history "
                                  "WHERE plane_id = %s AND field = 'state'", (item["id"],))
        self.assertEqual([(c["old_value"], c["new_value"], c["source"]) for c in change],
                         [(item["state"], other_state["id"], "webhook")])
        hits = query(self.conn, "SELECT plane_id FROM work_plane.search('zebra', 'desc')")
        self.assertEqual([h["plane_id"] for h in hits], [item["id"]])

        # A change only the sync sees (no webhook): recorded with the sync as its source.
        self.sim.mutate(workspace="desc", op="update", type="work_item", id=item["id"], project=project,
                        fields={"priority": "urgent" if item["priority"] != "urgent" else "low"})
        self.assertEqual(self.sync("desc")["action"], "sync")
        sources = [r["source"] for r in query(self.conn, "SELECT source FROM work_plane.item_history "
                                                          "WHERE plane_id = %s AND field = 'priority'", (item["id"],))]
        self.assertEqual(sources, ["sync"])


if __name__ == "__main__":
    unittest.main()
