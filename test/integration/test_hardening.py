"""Smaller holes of the hardening issue: cancel_sync never signals a pid (which may have been
reused); error text is cut on UTF-8 boundaries; a webhook whose updated_at is in the future cannot
pin a row; a cached webhook secret is wiped from the backend's memory when the cache lapses, even
while the backend sits idle."""
import datetime as dt
import hashlib
import hmac
import json
import os
import threading
import time
import unittest

import psycopg2

from harness import MirrorTestCase, query, scalar, utc, wait_until

SECRET = "plane_wh_hardening0123456789abcdef0123456"


def sign(body):
    return {"X-Plane-Signature": hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()}


def library_memory_holds(pid, needle):
    """Whether the writable memory of plane_connector.so in process `pid` (its data and bss, where
    the webhook secret cache keeps its fixed storage) contains `needle`. Read as root."""
    with open(f"/proc/{pid}/maps") as f:
        maps = [line.split() for line in f]
    regions, previous_end = [], None
    for fields in maps:
        start, end = (int(x, 16) for x in fields[0].split("-"))
        path = fields[5] if len(fields) > 5 else ""
        writable = fields[1].startswith("rw")
        if writable and path.endswith("/plane_connector.so"):
            regions.append((start, end))
        elif writable and not path and start == previous_end and regions and regions[-1][1] == start:
            regions.append((start, end))  # the .bss past the file's last page
        previous_end = end
    if not regions:
        raise AssertionError(f"no writable mapping of plane_connector.so in process {pid}")
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for start, end in regions:
            mem.seek(start)
            if needle in mem.read(end - start):
                return True
    return False


class HardeningTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.queue_max_attempts = 2"]

    def setup_workspace(self, slug, items=10):
        self.add_workspace(slug, projects=1, items=items, webhook_secret=SECRET)
        self.assertEqual(self.wait_for_run_end(slug)["action"], "sync")
        scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (SECRET, f"plane_webhook_secret:{slug}"))
        truth = self.sim.state(slug)
        return truth["projects"][0]["id"], [i for i in truth["work_items"]
                                            if not i.get("archived_at") and not i.get("is_draft")]

    def ingest(self, slug, body, conn=None):
        return scalar(conn or self.conn, "SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s)",
                      (slug, json.dumps(sign(body)), body))

    def v2(self, slug, project, item, **fields):
        out = self.sim.mutate(workspace=slug, op="update", type="work_item", id=item, project=project, fields=fields)
        return [d for d in out["webhooks"] if d["version"] == "v2"][0]["body"]

    def test_cancel_sync_does_not_signal_a_reused_pid(self):
        self.setup_workspace("recycled", items=3)
        # A sync_state row that says "running" with the pid of a process that is no sync worker —
        # as after a crash, when the pid has been given to another backend.
        victim = self.cluster.connect()
        victim_pid = scalar(victim, "SELECT pg_backend_pid()")
        outcome = {}

        def victim_query():
            try:
                outcome["value"] = scalar(victim, "SELECT 'finished' FROM pg_sleep(1.5)")
            except psycopg2.Error as e:
                outcome["error"] = e

        thread = threading.Thread(target=victim_query)
        thread.start()
        try:
            wait_until(lambda: scalar(self.conn, "SELECT state = 'active' FROM pg_stat_activity WHERE pid = %s",
                                      (victim_pid,)), message="the victim's query to run")
            scalar(self.conn, "UPDATE work_plane.sync_state SET state = 'running', worker_pid = %s "
                              "WHERE workspace_slug = 'recycled'", (victim_pid,))
            self.assertIs(scalar(self.conn, "SELECT work_plane.cancel_sync('recycled')"), False)
        finally:
            thread.join(30)
            victim.close()
        self.assertEqual(outcome, {"value": "finished"})  # not cancelled
        self.assertTrue(scalar(self.conn, "SELECT cancel_requested FROM work_plane.sync_state "
                                          "WHERE workspace_slug = 'recycled'"))

    def test_error_text_is_cut_on_utf8_boundaries(self):
        project, live = self.setup_workspace("utf8")
        # The mirror refuses three rows with an error of 3,000+ bytes of 3-byte characters, after
        # 1, 2 and 3 ASCII bytes: a cut at 2,000 bytes falls inside a character in two of them.
        scalar(self.conn, """CREATE FUNCTION public.refuse_utf8() RETURNS trigger LANGUAGE plpgsql AS
                             $$ BEGIN RAISE EXCEPTION '%', NEW.name || repeat('€', 1000); END $$""")
        scalar(self.conn, "CREATE TRIGGER refuse_utf8 BEFORE UPDATE ON work_plane.items FOR EACH ROW "
                          "WHEN (NEW.name LIKE 'u%%') EXECUTE FUNCTION public.refuse_utf8()")
        try:
            for n, name in enumerate(("u", "uu", "uuu")):
                self.assertEqual(self.ingest("utf8", self.v2("utf8", project, live[n]["id"], name=name)), 200)
            rows = wait_until(lambda: (lambda r: r if len(r) == 3 else None)(
                query(self.conn, "SELECT id, convert_to(last_error, 'UTF8') AS raw FROM ops.event_queue "
                                 "WHERE workspace_slug = 'utf8' AND last_error IS NOT NULL")),
                timeout=30, message="three failed events with their errors (an error cut inside a character "
                         "cannot even be stored: see the server log)")
        finally:
            scalar(self.conn, "DROP TRIGGER refuse_utf8 ON work_plane.items")
            scalar(self.conn, "DROP FUNCTION public.refuse_utf8()")
        for r in rows:
            raw = bytes(r["raw"])
            self.assertLessEqual(len(raw), 2000)
            self.assertGreater(len(raw), 1990)
            text = raw.decode("utf-8")  # raises on a cut character
            self.assertIn("€" * 600, text)

    def test_a_webhook_from_the_future_cannot_pin_a_row(self):
        project, live = self.setup_workspace("future")
        target = live[0]["id"]
        body = json.loads(self.v2("future", project, target, name="the real name"))
        future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
        body["data"]["name"] = "from the future"
        body["data"]["updated_at"] = future.isoformat().replace("+00:00", "Z")
        runs = self.last_event_id()
        self.assertEqual(self.ingest("future", json.dumps(body)), 200)
        # Not applied: the workspace's sync fetches the object instead.
        wait_until(lambda: scalar(self.conn, "SELECT status FROM ops.event_queue WHERE delivery_id = %s",
                                  (body["delivery_id"],)) == "done", timeout=15, message="the event to be handled")
        run = self.wait_for_run_end("future", runs)
        self.assertEqual(run["action"], "sync", run["details"])
        row = query(self.conn, "SELECT name, plane_updated_at FROM work_plane.items WHERE plane_id = %s", (target,))[0]
        self.assertEqual(row["name"], "the real name")
        plane = {i["id"]: i for i in self.sim.state("future")["work_items"]}[target]
        self.assertEqual(row["plane_updated_at"], utc(plane["updated_at"]))
        # The row is not pinned: the next real change applies.
        self.assertEqual(self.ingest("future", self.v2("future", project, target, name="changed later")), 200)
        wait_until(lambda: scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s", (target,))
                   == "changed later", timeout=15, message="a later delivery to be applied")

    @unittest.skipUnless(os.geteuid() == 0, "reads another process's memory (/proc/PID/mem): needs root")
    def test_cached_webhook_secret_is_wiped_when_the_cache_lapses(self):
        # The cache's own storage is watched: other copies of the secret that the Vault read leaves
        # in freed executor memory are outside the cache (see test/RELIABILITY.md).
        project, live = self.setup_workspace("wiped")
        needle = SECRET.encode()
        backend = self.cluster.connect()
        try:
            pid = scalar(backend, "SELECT pg_backend_pid()")
            scalar(backend, "SET plane.webhook_secret_cache = '3s'")
            self.assertFalse(library_memory_holds(pid, needle))
            self.assertEqual(self.ingest("wiped", self.v2("wiped", project, live[0]["id"], name="w1"), backend), 200)
            held_at = time.monotonic()
            self.assertTrue(library_memory_holds(pid, needle), "the cache should hold the secret now")
            # The backend sits idle from here on: only the cache's timer can wipe it.
            wait_until(lambda: not library_memory_holds(pid, needle), timeout=15, interval=0.1,
                       message="the cached secret to be wiped")
            self.assertGreaterEqual(time.monotonic() - held_at, 2.5)  # not before it lapsed
            self.assertEqual(scalar(backend, "SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()"),
                             "active")  # the same backend, still there
            # And the secret, read again, works: a rotated one takes effect at once (the rest of
            # rotation is test_webhooks…test_replaced_webhook_secret_works_at_once_and_the_old_one_stops).
            self.assertEqual(self.ingest("wiped", self.v2("wiped", project, live[1]["id"], name="w2"), backend), 200)
        finally:
            backend.close()


if __name__ == "__main__":
    unittest.main()
