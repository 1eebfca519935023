"""How ingest_webhook writes ops.event_queue: one prepared INSERT ... ON CONFLICT (idempotency_key)
DO NOTHING run by the executor. The row carries the table's defaults, a duplicate (in the same
transaction, or racing from another session) is one row, and a DBA's trigger fires."""
import hashlib
import hmac
import json
import threading
import uuid


from harness import MirrorTestCase, query, scalar, wait_until

SECRET = "plane_wh_ingest_enqueue_0123456789abcdef"
SLUG = "qins"


def signed(event="issue", action="updated", field="name", **data):
    """A v1 delivery signed with SECRET (Plane's X-Plane-Signature: hex HMAC-SHA256 of the body)."""
    data.setdefault("id", str(uuid.uuid4()))
    data.setdefault("updated_at", "2026-11-27T10:00:00.000000Z")
    body = json.dumps({"event": event, "action": action, "webhook_id": "w", "workspace_id": "ws",
                       "data": data, "activity": {"field": field}})
    sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    return {"headers": {"X-Plane-Signature": sig, "X-Plane-Delivery": str(uuid.uuid4())}, "body": body}


class IngestEnqueueTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.queue_worker = off"]  # rows stay as ingest wrote them

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.add_workspace(cls, SLUG, projects=1, items=1)
        scalar(cls.conn, "SELECT vault.create_secret(%s, %s)", (SECRET, f"plane_webhook_secret:{SLUG}"))

    def ingest(self, delivery, conn=None):
        return scalar(conn or self.conn, "SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s)",
                      (SLUG, json.dumps(delivery["headers"]), delivery["body"]))

    def row(self, delivery):
        key_rows = query(self.conn, "SELECT * FROM ops.event_queue WHERE payload = %s::jsonb",
                         (delivery["body"],))
        self.assertLessEqual(len(key_rows), 1)
        return key_rows[0] if key_rows else None

    def count(self):
        return scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = %s", (SLUG,))

    def test_a_queued_row_carries_the_tables_defaults(self):
        d = signed(name="defaults")
        self.assertEqual(self.ingest(d), 200)
        r = self.row(d)
        self.assertEqual((r["source"], r["workspace_slug"], r["event_type"], r["status"], r["attempts"]),
                         ("plane", SLUG, "issue", "pending", 0))
        self.assertEqual(r["delivery_id"], d["headers"]["X-Plane-Delivery"])
        self.assertTrue(r["idempotency_key"].startswith("plane:event:"))
        self.assertIsNone(r["leased_until"])
        self.assertIsNone(r["processed_at"])
        # created_at and next_attempt_at are now(): the transaction's start, as the default says.
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        e = signed(name="in a transaction")
        cur.execute("SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s), now()",
                    (SLUG, json.dumps(e["headers"]), e["body"]))
        status, started = cur.fetchone()
        cur.execute("COMMIT")
        self.assertEqual(status, 200)
        self.assertEqual(self.row(e)["created_at"], started)
        self.assertEqual(self.row(e)["next_attempt_at"], started)
        self.assertGreater(self.row(e)["id"], r["id"])  # the identity sequence
        # Without X-Plane-Delivery the column is NULL (nullif of the statement), not ''.
        f = signed(name="no delivery id")
        del f["headers"]["X-Plane-Delivery"]
        self.assertEqual(self.ingest(f), 200)
        self.assertIsNone(self.row(f)["delivery_id"])
        # An event type ingest does not apply is recorded as ignored.
        g = signed(event="issue_comment", action="created")
        self.assertEqual(self.ingest(g), 200)
        self.assertEqual(self.row(g)["status"], "ignored")

    def ingest_twice_in_one_transaction(self, begin, name):
        """The same delivery twice inside one transaction opened by `begin`: one row, two 200s."""
        d = signed(name=name)
        before = self.count()
        cur = self.conn.cursor()
        cur.execute(begin)
        for _ in range(2):
            cur.execute("SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s)",
                        (SLUG, json.dumps(d["headers"]), d["body"]))
            self.assertEqual(cur.fetchone()[0], 200)
        cur.execute("COMMIT")
        self.assertEqual(self.count(), before + 1)

    def test_the_same_key_twice_in_one_transaction_is_one_row(self):
        self.ingest_twice_in_one_transaction("BEGIN", "twice")

    def concurrent_same_key(self, finish_first):
        """Session A ingests d in an open transaction; session B ingests d too and must wait for A
        (the unique index's speculative insertion lock), then finish according to A's outcome."""
        d = signed(name=f"raced {finish_first}")
        a = self.cluster.connect()
        b = self.cluster.connect()
        try:
            a.autocommit = False
            self.assertEqual(self.ingest(d, conn=a), 200)
            b_pid = scalar(b, "SELECT pg_backend_pid()")
            result = {}
            thread = threading.Thread(target=lambda: result.update(status=self.ingest(d, conn=b)))
            thread.start()
            wait_until(lambda: scalar(self.conn, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                                 "WHERE pid = %s", (b_pid,)),
                       timeout=10, message="the second session to wait for the first")
            self.assertTrue(thread.is_alive())
            getattr(a, finish_first)()
            thread.join(timeout=30)
            self.assertFalse(thread.is_alive())
            self.assertEqual(result.get("status"), 200)
            return d
        finally:
            a.close()
            b.close()

    def test_a_concurrent_duplicate_waits_and_is_dropped_once_the_first_commits(self):
        d = self.concurrent_same_key("commit")
        rows = query(self.conn, "SELECT id FROM ops.event_queue WHERE payload = %s::jsonb", (d["body"],))
        self.assertEqual(len(rows), 1)

    def test_a_concurrent_duplicate_is_queued_if_the_first_rolls_back(self):
        d = self.concurrent_same_key("rollback")
        rows = query(self.conn, "SELECT id FROM ops.event_queue WHERE payload = %s::jsonb", (d["body"],))
        self.assertEqual(len(rows), 1)  # B's own row: A's never committed

    def test_a_dba_trigger_fires_for_every_delivery(self):
        scalar(self.conn, "CREATE TABLE public.queue_audit (key text)")
        scalar(self.conn, """CREATE FUNCTION public.queue_audit_fn() RETURNS trigger LANGUAGE plpgsql AS
                             $$BEGIN INSERT INTO public.queue_audit VALUES (NEW.idempotency_key); RETURN NEW; END$$""")
        scalar(self.conn, "CREATE TRIGGER audit AFTER INSERT ON ops.event_queue FOR EACH ROW "
                          "EXECUTE FUNCTION public.queue_audit_fn()")
        try:
            d = signed(name="audited")
            self.assertEqual(self.ingest(d), 200)
            self.assertEqual(self.ingest(d), 200)  # a duplicate fires nothing
            self.assertEqual(scalar(self.conn, "SELECT array_agg(key) FROM public.queue_audit"),
                             [self.row(d)["idempotency_key"]])
        finally:
            scalar(self.conn, "DROP TRIGGER audit ON ops.event_queue")
            scalar(self.conn, "DROP FUNCTION public.queue_audit_fn() CASCADE")
            scalar(self.conn, "DROP TABLE public.queue_audit")
        # With the trigger gone, deliveries are queued as before.
        e = signed(name="after the trigger")
        self.assertEqual(self.ingest(e), 200)
        self.assertIsNotNone(self.row(e))

    def test_repeatable_read_and_duplicates_there(self):
        self.ingest_twice_in_one_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ", "repeatable read")
