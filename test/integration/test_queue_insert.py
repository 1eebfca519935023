"""How ingest_webhook writes ops.event_queue: directly (heap and index calls, src/pg/queue_insert.cpp)
for the table as the extension creates it, and through the INSERT ... ON CONFLICT statement as soon
as a DBA's change makes the direct path unable to honour the table (a trigger, a CHECK on another
column, a default it does not evaluate, a NOT NULL it would violate, REPEATABLE READ). Either way the
row, the dedup and the errors are the statement's."""
import hashlib
import hmac
import json
import threading
import uuid

import psycopg2

from harness import MirrorTestCase, query, scalar, wait_until

SECRET = "plane_wh_queue_insert_0123456789abcdef"
SLUG = "qins"


def signed(event="issue", action="updated", field="name", **data):
    """A v1 delivery signed with SECRET (Plane's X-Plane-Signature: hex HMAC-SHA256 of the body)."""
    data.setdefault("id", str(uuid.uuid4()))
    data.setdefault("updated_at", "2026-11-27T10:00:00.000000Z")
    body = json.dumps({"event": event, "action": action, "webhook_id": "w", "workspace_id": "ws",
                       "data": data, "activity": {"field": field}})
    sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    return {"headers": {"X-Plane-Signature": sig, "X-Plane-Delivery": str(uuid.uuid4())}, "body": body}


class QueueInsertTest(MirrorTestCase):
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

    def test_a_direct_row_is_the_statements_row(self):
        d = signed(name="direct")
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
        (the speculative insertion's lock), then finish according to A's outcome."""
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

    def test_a_check_on_another_column_is_enforced(self):
        scalar(self.conn, "ALTER TABLE ops.event_queue ADD CONSTRAINT short_body "
                          "CHECK (length(payload::text) < 100) NOT VALID")
        try:
            with self.assertRaises(psycopg2.errors.CheckViolation):
                self.ingest(signed(name="too long for the DBA's rule"))
        finally:
            scalar(self.conn, "ALTER TABLE ops.event_queue DROP CONSTRAINT short_body")
        self.assertEqual(self.ingest(signed(name="allowed again")), 200)

    def test_a_status_check_is_enforced_for_the_status_written(self):
        scalar(self.conn, "ALTER TABLE ops.event_queue ADD CONSTRAINT no_ignored "
                          "CHECK (status <> 'ignored') NOT VALID")
        try:
            self.assertEqual(self.ingest(signed(name="pending is fine")), 200)
            with self.assertRaises(psycopg2.errors.CheckViolation):
                self.ingest(signed(event="issue_comment", action="created"))
        finally:
            scalar(self.conn, "ALTER TABLE ops.event_queue DROP CONSTRAINT no_ignored")
        self.assertEqual(self.ingest(signed(event="issue_comment", action="created")), 200)

    def test_changed_defaults_are_honoured(self):
        scalar(self.conn, "ALTER TABLE ops.event_queue ALTER COLUMN attempts SET DEFAULT 7")
        scalar(self.conn, "ALTER TABLE ops.event_queue ALTER COLUMN next_attempt_at "
                          "SET DEFAULT now() + interval '1 hour'")
        try:
            d = signed(name="defaults")
            self.assertEqual(self.ingest(d), 200)
            r = self.row(d)
            self.assertEqual(r["attempts"], 7)
            self.assertEqual(scalar(self.conn, "SELECT %s - %s = interval '1 hour'",
                                    (r["next_attempt_at"], r["created_at"])), True)
        finally:
            scalar(self.conn, "ALTER TABLE ops.event_queue ALTER COLUMN attempts SET DEFAULT 0")
            scalar(self.conn, "ALTER TABLE ops.event_queue ALTER COLUMN next_attempt_at SET DEFAULT now()")
        e = signed(name="defaults restored")
        self.assertEqual(self.ingest(e), 200)
        self.assertEqual(self.row(e)["attempts"], 0)
        self.assertEqual(self.row(e)["next_attempt_at"], self.row(e)["created_at"])

    def test_a_not_null_the_row_would_violate_raises_the_usual_error(self):
        scalar(self.conn, "DELETE FROM ops.event_queue WHERE delivery_id IS NULL")  # other tests' rows
        scalar(self.conn, "ALTER TABLE ops.event_queue ALTER COLUMN delivery_id SET NOT NULL")
        try:
            d = signed(name="no delivery id")
            del d["headers"]["X-Plane-Delivery"]
            with self.assertRaises(psycopg2.errors.NotNullViolation):
                self.ingest(d)
            self.assertEqual(self.ingest(signed(name="with a delivery id")), 200)
        finally:
            scalar(self.conn, "ALTER TABLE ops.event_queue ALTER COLUMN delivery_id DROP NOT NULL")

    def test_repeatable_read_and_duplicates_there(self):
        self.ingest_twice_in_one_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ", "repeatable read")
