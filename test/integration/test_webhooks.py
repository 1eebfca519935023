"""Webhook ingestion and the event queue: Plane's signed deliveries (v1 and v2, as the simulator
signs them) through work_plane.ingest_webhook, applied by the queue worker or process_events."""
import json
import os
import signal
import threading
import unittest

from harness import MirrorTestCase, query, scalar, utc, wait_until

SECRET = "plane_wh_0123456789abcdef0123456789abcdef"


class WebhookTest(MirrorTestCase):
    CLUSTER_CONF = [
        "plane.rate_limit_per_minute = 0",
        "plane.queue_lease = 2",
        "plane.queue_max_attempts = 2",
        "plane.poll_interval = '1h'",
    ]

    def setup_workspace(self, slug, items=30, store_secret=True):
        self.add_workspace(slug, projects=1, items=items, webhook_secret=SECRET)
        self.wait_for_run_end(slug)
        if store_secret:
            scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (SECRET, f"plane_webhook_secret:{slug}"))
        return self.sim.state(slug)

    def ingest(self, slug, delivery, conn=None):
        return scalar(conn or self.conn, "SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s)",
                      (slug, json.dumps(delivery["headers"]), delivery["body"]))

    def mutate(self, slug, **kwargs):
        return self.sim.mutate(workspace=slug, **kwargs)

    def wait_applied(self, slug, timeout=10):
        wait_until(lambda: scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = %s "
                                             "AND status IN ('pending', 'processing')", (slug,)) == 0,
                   timeout=timeout, message="the queue to drain")

    def item(self, plane_id):
        rows = query(self.conn, "SELECT * FROM work_plane.items WHERE plane_id = %s", (plane_id,))
        return rows[0] if rows else None

    def test_v1_and_v2_deliveries_reach_the_mirror(self):
        truth = self.setup_workspace("hooks")
        project = truth["projects"][0]["id"]
        target = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")][0]
        for version in ("v1", "v2"):
            out = self.mutate("hooks", op="update", type="work_item", id=target["id"], project=project,
                              fields={"name": f"renamed via {version}", "priority": "urgent"})
            deliveries = [d for d in out["webhooks"] if d["version"] == version]
            self.assertTrue(deliveries)
            for d in deliveries:
                self.assertEqual(self.ingest("hooks", d), 200)
            self.wait_applied("hooks")
            row = self.item(target["id"])
            self.assertEqual(row["name"], f"renamed via {version}")
            self.assertEqual(row["priority"], "urgent")
            self.assertEqual(row["plane_updated_at"], utc(out["object"]["updated_at"]))
        created = self.mutate("hooks", op="create", type="work_item", project=project,
                              fields={"name": "born in Plane"})
        for d in created["webhooks"]:
            self.assertEqual(self.ingest("hooks", d), 200)
        self.wait_applied("hooks")
        self.assertEqual(self.item(created["object"]["id"])["name"], "born in Plane")

    def test_queue_worker_reports_table_statistics_while_it_runs(self):
        # Autovacuum decides from the cumulative statistics: the long-lived queue worker (the only
        # process that updates ops.event_queue here) must hand its counts over while it runs.
        truth = self.setup_workspace("stats")
        updates = ("SELECT coalesce(n_tup_upd, 0) FROM pg_stat_user_tables "
                   "WHERE relid = 'ops.event_queue'::regclass")
        worker = scalar(self.conn, "SELECT work_plane.queue_worker_pid()")
        before = scalar(self.conn, updates)
        target = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")][0]
        out = self.mutate("stats", op="update", type="work_item", id=target["id"],
                          project=truth["projects"][0]["id"], fields={"name": "counted"})
        for d in out["webhooks"]:
            self.assertEqual(self.ingest("stats", d), 200)
        self.wait_applied("stats")
        wait_until(lambda: scalar(self.conn, updates) > before, timeout=15,
                   message="the queue worker's updates in pg_stat_user_tables")
        self.assertEqual(scalar(self.conn, "SELECT work_plane.queue_worker_pid()"), worker)

    def test_burst_of_mutations_converges_to_plane(self):
        truth = self.setup_workspace("burst", items=60)
        project = truth["projects"][0]["id"]
        live = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")]
        deliveries = []
        for n, it in enumerate(live[:40]):
            out = self.mutate("burst", op="update", type="work_item", id=it["id"], project=project,
                              fields={"name": f"burst {n}", "priority": ["low", "high", "none"][n % 3]})
            deliveries += out["webhooks"]
        for n in range(10):
            deliveries += self.mutate("burst", op="create", type="work_item", project=project,
                                      fields={"name": f"new {n}"})["webhooks"]
        for d in deliveries:
            self.assertEqual(self.ingest("burst", d), 200)
        self.wait_applied("burst")
        self.assert_mirror_matches("burst")

    def test_redeliveries_and_duplicates_enqueue_nothing_new(self):
        truth = self.setup_workspace("dupes")
        project = truth["projects"][0]["id"]
        target = truth["work_items"][0]
        out = self.mutate("dupes", op="update", type="work_item", id=target["id"], project=project,
                          fields={"name": "once"})
        before = scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'dupes'")
        for d in out["webhooks"]:
            self.assertEqual(self.ingest("dupes", d), 200)
        first = scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'dupes'")
        self.assertEqual(first - before, len(out["webhooks"]))
        for d in out["webhooks"]:
            retry = dict(d, headers=dict(d["headers"], **{"X-Plane-Delivery": "a-new-delivery-id"}))
            self.assertEqual(self.ingest("dupes", retry), 200)   # Plane's retry: new delivery id
            self.assertEqual(self.ingest("dupes", d), 200)       # identical duplicate
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'dupes'"),
                         first)
        dup = scalar(self.conn, "SELECT duplicates FROM work_plane.webhook_counters() WHERE workspace_slug = 'dupes'")
        self.assertEqual(dup, 2 * len(out["webhooks"]))

    def test_bad_signatures_are_401_and_leave_no_trace(self):
        truth = self.setup_workspace("guarded")
        project = truth["projects"][0]["id"]
        marker = "ZZ-leak-marker-7f3a9c"
        out = self.mutate("guarded", op="update", type="work_item", id=truth["work_items"][0]["id"],
                          project=project, fields={"name": marker})
        d = [w for w in out["webhooks"] if w["version"] == "v1"][0]
        before = scalar(self.conn, "SELECT count(*) FROM ops.event_queue")
        forged = dict(d, headers=dict(d["headers"], **{"X-Plane-Signature": "0" * 64}))
        self.assertEqual(self.ingest("guarded", forged), 401)
        unsigned = dict(d, headers={k: v for k, v in d["headers"].items() if k != "X-Plane-Signature"})
        self.assertEqual(self.ingest("guarded", unsigned), 401)
        tampered = dict(d, body=d["body"].replace(marker, marker + "!"))
        self.assertEqual(self.ingest("guarded", tampered), 401)
        wrong_secret = dict(d, headers={"X-Plane-Webhook-Secret": "not-the-secret"})
        self.assertEqual(self.ingest("guarded", wrong_secret), 401)
        proxy = dict(d, headers={"X-Plane-Webhook-Secret": SECRET})  # a proxy's shared secret
        self.assertEqual(self.ingest("guarded", proxy), 401)  # off unless a superuser allows it
        scalar(self.conn, "ALTER SYSTEM SET plane.webhook_accept_secret_header = on")
        scalar(self.conn, "SELECT pg_reload_conf()")
        try:
            wait_until(lambda: scalar(self.conn, "SHOW plane.webhook_accept_secret_header") == "on",
                       message="the reloaded setting")
            self.assertEqual(self.ingest("guarded", proxy), 200)
        finally:
            scalar(self.conn, "ALTER SYSTEM RESET plane.webhook_accept_secret_header")
            scalar(self.conn, "SELECT pg_reload_conf()")
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM ops.event_queue"), before + 1)
        self.assertEqual(scalar(self.conn, "SELECT unauthorized FROM work_plane.webhook_counters() "
                                           "WHERE workspace_slug = 'guarded'"), 5)
        # The rejected payloads are nowhere: not queued, not audited, not logged.
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE payload::text LIKE %s",
                                (f"%{marker}!%",)), 0)
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM ops.run_events WHERE details::text LIKE %s",
                                (f"%{marker}%",)), 0)
        self.assertNotIn(marker, self.cluster.server_log())
        self.assertNotIn(SECRET, self.cluster.server_log())

    def test_replaced_webhook_secret_works_at_once_and_the_old_one_stops(self):
        self.setup_workspace("rotating")
        import hmac, hashlib
        def signed(secret, n):
            body = json.dumps({"event": "issue_comment", "action": "created", "webhook_id": "w",
                               "workspace_id": "x", "data": {"id": f"rotating-c{n}"}, "activity": {}})
            sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
            return {"headers": {"X-Plane-Signature": sig}, "body": body}
        def rotate(secret):
            scalar(self.conn, "SELECT vault.update_secret(id, %s) FROM vault.secrets "
                              "WHERE name = 'plane_webhook_secret:rotating'", (secret,))
        self.assertEqual(scalar(self.conn, "SHOW plane.webhook_secret_cache"), "1s")
        self.assertEqual(self.ingest("rotating", signed(SECRET, 1)), 200)  # this backend reuses it now
        second, third = "plane_wh_second_" + "1" * 24, "plane_wh_third_" + "2" * 24
        rotate(second)
        # The new secret works at once: a failed check against the reused secret reads it again.
        self.assertEqual(self.ingest("rotating", signed(second, 2)), 200)
        self.assertEqual(self.ingest("rotating", signed(SECRET, 3)), 401)
        # A replaced secret stops working within plane.webhook_secret_cache (1 s here).
        rotate(third)
        wait_until(lambda: self.ingest("rotating", signed(second, 4)) == 401, timeout=5,
                   message="the replaced secret to be refused")
        self.assertEqual(self.ingest("rotating", signed(third, 5)), 200)
        # Without reuse, a replaced secret is refused on the next delivery.
        scalar(self.conn, "SET plane.webhook_secret_cache = 0")
        self.assertEqual(self.ingest("rotating", signed(third, 6)), 200)
        rotate(second)
        self.assertEqual(self.ingest("rotating", signed(third, 7)), 401)
        scalar(self.conn, "RESET plane.webhook_secret_cache")
        # What an aborted transaction read is not reused: its secret was never committed.
        self.add_workspace("rolledback", projects=1, items=1)
        self.conn.autocommit = False
        try:
            cur = self.conn.cursor()
            cur.execute("SELECT vault.create_secret(%s, 'plane_webhook_secret:rolledback')", (third,))
            cur.execute("SELECT work_plane.ingest_webhook('rolledback', %s::jsonb, %s)",
                        (json.dumps(signed(third, 8)["headers"]), signed(third, 8)["body"]))
            self.assertEqual(cur.fetchone()[0], 200)
            self.conn.rollback()
        finally:
            self.conn.autocommit = True
        self.assertEqual(self.ingest("rolledback", signed(third, 9)), 503)

    def test_malformed_oversized_unknown_and_unconfigured(self):
        truth = self.setup_workspace("strict")
        import hmac, hashlib
        def signed(body):
            sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            return {"headers": {"X-Plane-Signature": sig}, "body": body}
        self.assertEqual(self.ingest("strict", signed('{"event": "issue", "action": ')), 400)
        self.assertEqual(self.ingest("strict", signed('[1, 2, 3]')), 400)
        self.assertEqual(self.ingest("strict", signed("[" * 100000 + "]" * 100000)), 400)
        big = '{"event": "issue", "pad": "' + "x" * (6 * 1024 * 1024) + '"}'
        self.assertEqual(self.ingest("strict", signed(big)), 413)
        unknown = signed(json.dumps({"event": "issue_comment", "action": "created", "webhook_id": "w",
                                     "workspace_id": "x", "data": {"id": "c1"}, "activity": {}}))
        self.assertEqual(self.ingest("strict", unknown), 200)
        self.assertEqual(scalar(self.conn, "SELECT status FROM ops.event_queue WHERE workspace_slug = 'strict' "
                                           "AND event_type = 'issue_comment'"), "ignored")
        self.assertEqual(self.ingest("nobody-here", unknown), 404)
        self.assertEqual(self.ingest("bad slug'; --", unknown), 404)
        # A workspace whose webhook secret is not in Vault: 503 so that Plane Cloud retries later.
        self.add_workspace("nosecret", projects=1, items=1)
        self.assertEqual(self.ingest("nosecret", unknown), 503)
        counters = query(self.conn, "SELECT * FROM work_plane.webhook_counters() WHERE workspace_slug = 'strict'")[0]
        self.assertEqual(counters["malformed"], 3)
        self.assertEqual(counters["too_large"], 1)

    def test_out_of_order_deliveries_do_not_make_rows_older(self):
        truth = self.setup_workspace("order")
        project = truth["projects"][0]["id"]
        target = truth["work_items"][0]["id"]
        first = self.mutate("order", op="update", type="work_item", id=target, project=project,
                            fields={"name": "first"})
        second = self.mutate("order", op="update", type="work_item", id=target, project=project,
                             fields={"name": "second"})
        v2 = lambda out: [d for d in out["webhooks"] if d["version"] == "v2"]
        for d in v2(second):
            self.assertEqual(self.ingest("order", d), 200)
        self.wait_applied("order")
        for d in v2(first):  # late, older
            self.assertEqual(self.ingest("order", d), 200)
        self.wait_applied("order")
        row = self.item(target)
        self.assertEqual(row["name"], "second")
        self.assertEqual(row["plane_updated_at"], utc(second["object"]["updated_at"]))

    def test_deletes_and_archives_from_webhooks(self):
        truth = self.setup_workspace("hookgone")
        project = truth["projects"][0]["id"]
        live = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")]
        out = self.mutate("hookgone", op="delete", type="work_item", id=live[0]["id"], project=project)
        v2 = [d for d in out["webhooks"] if d["version"] == "v2"]
        self.assertTrue(v2)
        self.assertFalse([d for d in out["webhooks"] if d["version"] == "v1"])  # v1 sends nothing
        for d in v2:
            self.assertEqual(self.ingest("hookgone", d), 200)
        out = self.mutate("hookgone", op="archive", type="work_item", id=live[1]["id"], project=project)
        for d in out["webhooks"]:
            self.assertEqual(self.ingest("hookgone", d), 200)
        self.wait_applied("hookgone")
        self.assertIsNotNone(self.item(live[0]["id"])["gone_at"])
        self.assertIsNotNone(self.item(live[1]["id"])["gone_at"])
        self.assertIsNotNone(self.item(live[1]["id"])["archived_at"])

    def test_concurrent_drainers_apply_each_event_once(self):
        truth = self.setup_workspace("drain", items=200)
        project = truth["projects"][0]["id"]
        scalar(self.conn, "ALTER SYSTEM SET plane.queue_worker = off")
        scalar(self.conn, "SELECT pg_reload_conf()")
        try:
            wait_until(lambda: scalar(self.conn, "SELECT setting FROM pg_settings WHERE name = 'plane.queue_worker'") == "off")
            deliveries = []
            for it in truth["work_items"]:
                if it.get("archived_at") or it.get("is_draft"):
                    continue
                deliveries += self.mutate("drain", op="update", type="work_item", id=it["id"], project=project,
                                          fields={"name": "drained " + it["id"][:8]})["webhooks"]
            for d in deliveries:
                self.assertEqual(self.ingest("drain", d), 200)
            queued = scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'drain' AND status = 'pending'")
            applied_before = scalar(self.conn, "SELECT applied FROM work_plane.webhook_counters() WHERE workspace_slug = 'drain'") or 0
            results = []
            def drain():
                c = self.cluster.connect()
                total = 0
                while True:
                    n = scalar(c, "SELECT work_plane.process_events(50)")
                    if n == 0 and scalar(c, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'drain' AND status = 'pending'") == 0:
                        break
                    total += n
                results.append(total)
                c.close()
            threads = [threading.Thread(target=drain) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(sum(results), queued)
            applied_after = scalar(self.conn, "SELECT applied FROM work_plane.webhook_counters() WHERE workspace_slug = 'drain'")
            self.assertEqual(applied_after - applied_before, queued)  # no event applied twice
            self.assert_mirror_matches("drain")
        finally:
            scalar(self.conn, "ALTER SYSTEM RESET plane.queue_worker")
            scalar(self.conn, "SELECT pg_reload_conf()")

    def test_dead_letters_are_visible_and_can_be_retried(self):
        truth = self.setup_workspace("deadletter")
        project = truth["projects"][0]["id"]
        out = self.mutate("deadletter", op="update", type="work_item", id=truth["work_items"][0]["id"],
                          project=project, fields={"name": "doomed for now"})
        d = [w for w in out["webhooks"] if w["version"] == "v2"][0]
        # Applying fails while the mirror refuses the row (a trigger standing in for any fault).
        scalar(self.conn, """CREATE FUNCTION plane_test_refuse() RETURNS trigger LANGUAGE plpgsql AS
                             $$ BEGIN RAISE EXCEPTION 'mirror refuses %', NEW.name; END $$""")
        scalar(self.conn, "CREATE TRIGGER refuse BEFORE UPDATE ON work_plane.items FOR EACH ROW "
                          "WHEN (NEW.name = 'doomed for now') EXECUTE FUNCTION plane_test_refuse()")
        try:
            self.assertEqual(self.ingest("deadletter", d), 200)
            dead = wait_until(lambda: query(self.conn, "SELECT * FROM ops.event_queue WHERE workspace_slug = 'deadletter' "
                                                       "AND status = 'dead'"), timeout=30, message="a dead letter")
            self.assertIn("mirror refuses", dead[0]["last_error"])
            self.assertEqual(dead[0]["attempts"], 2)
            self.assertGreaterEqual(scalar(self.conn, "SELECT dead FROM work_plane.queue_status"), 1)
        finally:
            scalar(self.conn, "DROP TRIGGER refuse ON work_plane.items")
            scalar(self.conn, "DROP FUNCTION plane_test_refuse()")
        self.assertGreaterEqual(scalar(self.conn, "SELECT work_plane.retry_dead_events(%s)", ([dead[0]["id"]],)), 1)
        self.wait_applied("deadletter")
        self.assertEqual(scalar(self.conn, "SELECT status FROM ops.event_queue WHERE id = %s", (dead[0]["id"],)), "done")
        self.assertEqual(self.item(truth["work_items"][0]["id"])["name"], "doomed for now")


class QueueCrashTest(MirrorTestCase):
    """A queue worker killed mid-batch loses nothing: accepted = applied + dead + pending, pending → 0."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.queue_lease = 2",
                    "plane.queue_batch_size = 50", "plane.poll_interval = '1h'"]

    def test_killed_worker_loses_nothing(self):
        self.add_workspace("crash", projects=1, items=300, webhook_secret=SECRET)
        self.wait_for_run_end("crash")
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_webhook_secret:crash')", (SECRET,))
        truth = self.sim.state("crash")
        project = truth["projects"][0]["id"]
        deliveries = []
        for it in truth["work_items"]:
            if not it.get("archived_at") and not it.get("is_draft"):
                deliveries += self.sim.mutate(workspace="crash", op="update", type="work_item", id=it["id"],
                                              project=project, fields={"name": "crash " + it["id"][:8]})["webhooks"]
        for d in deliveries:
            self.assertEqual(scalar(self.conn, "SELECT work_plane.ingest_webhook('crash', %s::jsonb, %s)",
                                    (json.dumps(d["headers"]), d["body"])), 200)
        accepted = scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'crash' AND status <> 'ignored'")
        pid = scalar(self.conn, "SELECT work_plane.queue_worker_pid()")
        os.kill(pid, signal.SIGKILL)  # the postmaster restarts every backend after this
        self.conn.close()
        self.reconnect_after_crash("SELECT work_plane.queue_worker_pid()", pid,
                                   "the server and a new queue worker")
        wait_until(lambda: scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = 'crash' "
                                             "AND status IN ('pending', 'processing')") == 0,
                   timeout=60, message="the queue to drain after the crash")
        counts = {r["status"]: r["n"] for r in query(
            self.conn, "SELECT status, count(*) AS n FROM ops.event_queue WHERE workspace_slug = 'crash' "
                       "AND status <> 'ignored' GROUP BY status")}
        self.assertEqual(sum(counts.values()), accepted)
        self.assertEqual(counts.get("dead", 0), 0)
        self.assert_mirror_matches("crash")


if __name__ == "__main__":
    unittest.main()


class ReceiverTest(MirrorTestCase):
    """The embedded receiver: POST /plane/webhook/{slug} over HTTP into the same ingest path."""
    RECEIVER_PORT = None

    @classmethod
    def setUpClass(cls):
        from harness import free_port
        cls.RECEIVER_PORT = free_port()
        cls.CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                            f"plane.webhook_listen_address = '127.0.0.1:{cls.RECEIVER_PORT}'"]
        super().setUpClass()

    def post(self, path, body, headers=None, method="POST"):
        import urllib.request, urllib.error
        req = urllib.request.Request(f"http://127.0.0.1:{self.RECEIVER_PORT}{path}",
                                     data=body.encode() if body is not None else None,
                                     method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except urllib.error.URLError as e:
            if isinstance(e.reason, (ConnectionResetError, BrokenPipeError)):
                return "closed"  # the receiver closed the connection while the body was sent
            raise

    def test_receiver_applies_plane_deliveries_and_bounds_requests(self):
        self.add_workspace("recv", projects=1, items=20, webhook_secret=SECRET)
        self.wait_for_run_end("recv")
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_webhook_secret:recv')", (SECRET,))
        wait_until(lambda: self.post("/plane/webhook/recv", "{}") != 0, message="the receiver to listen")
        truth = self.sim.state("recv")
        project = truth["projects"][0]["id"]
        target = truth["work_items"][0]["id"]
        # Plane (the simulator) posts its signed deliveries to the receiver itself.
        out = self.sim.mutate(workspace="recv", op="update", type="work_item", id=target, project=project,
                              fields={"name": "through the receiver"},
                              deliver_to=f"http://127.0.0.1:{self.RECEIVER_PORT}/plane/webhook/recv")
        self.assertTrue(out.get("delivered"), out)
        self.assertTrue(all(d.get("status") == 200 for d in out["delivered"]), out["delivered"])
        wait_until(lambda: scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s", (target,))
                   == "through the receiver", timeout=10, message="the delivery applied")
        d = out["webhooks"][0]
        self.assertEqual(self.post("/plane/webhook/recv", d["body"], {"X-Plane-Signature": "0" * 64}), 401)
        self.assertEqual(self.post("/plane/webhook/recv", d["body"], d["headers"]), 200)  # duplicate
        self.assertEqual(self.post("/plane/webhook/nobody", d["body"], d["headers"]), 404)
        self.assertEqual(self.post("/elsewhere", d["body"], d["headers"]), 404)
        self.assertEqual(self.post("/plane/webhook/recv", None, method="GET"), 405)
        # 413 as soon as the headers announce it, and the connection closed without reading the
        # body: a client still sending it may see the close (a reset) before it reads the 413.
        self.assertIn(self.post("/plane/webhook/recv", "x" * (6 * 1024 * 1024), d["headers"]), (413, "closed"))
        flood = {f"X-Flood-{i}": "y" for i in range(300)}
        self.assertIn(self.post("/plane/webhook/recv", d["body"], flood), (413, 431))
        # Still serving after all that.
        self.assertEqual(self.post("/plane/webhook/recv", d["body"], d["headers"]), 200)
