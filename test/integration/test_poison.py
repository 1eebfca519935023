"""Poison events: an event whose apply really kills the queue worker (abort(), through the
plane.fault_injection hook) is dead-lettered after plane.queue_max_attempts crashes — at claim
time, as a crash never reaches a failed-apply path — while the other events of its batch are
applied, and the server stops restarting."""
import json
import re
import unittest

import psycopg2

from harness import Cluster, MirrorTestCase, Simulator, install_extension, query, scalar, wait_until

SECRET = "plane_wh_poison0123456789abcdef0123456789"
MAX_ATTEMPTS = 3
CRASH = re.compile(r'background worker "plane_connector queue" \(PID \d+\) was terminated by signal 6')


class PoisonEventTest(MirrorTestCase):
    SLUG = "poison"

    @classmethod
    def setUpClass(cls):
        # The simulator's ids are known before the server starts, so that the fault is in the
        # server's configuration from its first moment (no reload racing the first claim).
        cls.sim = Simulator(*cls.SIM_ARGS)
        cls.key = f"plane_api_{cls.SLUG}_0123456789abcdef0123456789"
        cls.sim.seed(workspace=cls.SLUG, projects=1, items_per_project=12, tz="+05:30", api_key=cls.key,
                     seed=1, webhook_secret=SECRET)
        truth = cls.sim.state(cls.SLUG)
        cls.live = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")][:7]
        cls.poison = cls.live[3]["id"]  # in the middle of its batch
        cls.cluster = Cluster([f"plane.page_size = {cls.PAGE_SIZE}", "plane.launcher_naptime = 1",
                               "plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                               f"plane.queue_max_attempts = {MAX_ATTEMPTS}",
                               f"plane.fault_injection = 'crash_on_apply:{cls.poison}'"])
        cls.conn = None
        try:
            cls.cluster.start()
            cls.conn = cls.cluster.connect()
            install_extension(cls.conn)
        except Exception:
            cls.tearDownClass()
            raise

    def fresh(self, sql, params=None):
        """The query's answer on a live connection, or None while the server is restarting."""
        try:
            if self.conn is None or self.conn.closed:
                type(self).conn = self.cluster.connect()
            return query(self.conn, sql, params)
        except psycopg2.Error:
            if self.conn is not None:
                self.conn.close()
            type(self).conn = None
            return None

    def crashes(self):
        return len(CRASH.findall(self.cluster.server_log()))

    def test_event_that_kills_the_worker_is_dead_lettered_and_its_batch_applied(self):
        slug = self.SLUG
        scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (self.key, f"plane_api_key:{slug}"))
        scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (SECRET, f"plane_webhook_secret:{slug}"))
        scalar(self.conn, "SELECT work_plane.add_installation(%s, api_url => %s)", (slug, self.sim.url))
        self.assertEqual(self.wait_for_run_end(slug)["action"], "sync")
        self.assertEqual(self.crashes(), 0)
        project = self.live[0]["project"]
        headers, bodies = [], []
        for n, it in enumerate(self.live):
            out = self.sim.mutate(workspace=slug, op="update", type="work_item", id=it["id"], project=project,
                                  fields={"name": f"batch {n}"})
            d = [w for w in out["webhooks"] if w["version"] == "v2"][0]
            headers.append(json.dumps(d["headers"]))
            bodies.append(d["body"])
        # One statement, one commit: the queue worker claims them as one batch.
        statuses = query(self.conn, "SELECT work_plane.ingest_webhook(%s, h::jsonb, b) AS s "
                                    "FROM unnest(%s::text[], %s::text[]) AS t(h, b)", (slug, headers, bodies))
        self.assertEqual([r["s"] for r in statuses], [200] * len(self.live))

        # The worker dies on the poison (the postmaster resets every backend each time), comes back,
        # and in the end dead-letters it when claiming it again.
        dead = wait_until(lambda: (self.fresh("SELECT * FROM ops.event_queue WHERE workspace_slug = %s "
                                              "AND status = 'dead'", (slug,)) or None),
                          timeout=60, interval=0.2, message="the poison event to be dead-lettered")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["payload"]["data"]["id"], self.poison)
        self.assertIn(f"stopped while applying this event {MAX_ATTEMPTS} times", dead[0]["last_error"])
        self.assertEqual(dead[0]["attempts"], MAX_ATTEMPTS + 1)  # the claim that dead-lettered it counted too
        # The other events of its batch were applied; the poison's row was never touched.
        wait_until(lambda: self.fresh("SELECT 1 FROM ops.event_queue WHERE workspace_slug = %s "
                                      "AND status = 'done' HAVING count(*) = %s", (slug, len(self.live) - 1)),
                   timeout=30, message="the rest of the batch to be applied")
        names = {r["plane_id"]: r["name"] for r in self.fresh(
            "SELECT plane_id, name FROM work_plane.items WHERE workspace_slug = %s", (slug,))}
        for n, it in enumerate(self.live):
            if it["id"] == self.poison:
                self.assertEqual(names[it["id"]], it["name"])
            else:
                self.assertEqual(names[it["id"]], f"batch {n}")
        # It killed the worker exactly plane.queue_max_attempts times, and the server stopped
        # restarting: the same worker applies a new delivery without another crash.
        self.assertEqual(self.crashes(), MAX_ATTEMPTS)
        worker = wait_until(lambda: (self.fresh("SELECT work_plane.queue_worker_pid() AS p") or [{}])[0].get("p"),
                            message="the queue worker")
        out = self.sim.mutate(workspace=slug, op="update", type="work_item", id=self.live[0]["id"], project=project,
                              fields={"name": "after the poison"})
        d = [w for w in out["webhooks"] if w["version"] == "v2"][0]
        self.assertEqual(scalar(self.conn, "SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s)",
                                (slug, json.dumps(d["headers"]), d["body"])), 200)
        wait_until(lambda: scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s",
                                  (self.live[0]["id"],)) == "after the poison",
                   timeout=15, message="a later delivery to be applied")
        self.assertEqual(scalar(self.conn, "SELECT work_plane.queue_worker_pid()"), worker)
        self.assertEqual(self.crashes(), MAX_ATTEMPTS)
        self.assertGreaterEqual(scalar(self.conn, "SELECT dead FROM work_plane.queue_status"), 1)

        # Once the fault is gone, the dead letter can be retried and is applied.
        scalar(self.conn, "ALTER SYSTEM SET plane.fault_injection = ''")
        scalar(self.conn, "SELECT pg_reload_conf()")
        def reloaded():
            c = self.cluster.connect()
            try:
                return scalar(c, "SHOW plane.fault_injection") == ""
            finally:
                c.close()
        # A new backend sees the new value once the postmaster has reloaded, and the postmaster
        # signals its children (the queue worker among them) as it reloads.
        wait_until(reloaded, message="the fault to be gone")
        self.assertEqual(scalar(self.conn, "SELECT work_plane.retry_dead_events(%s)", ([dead[0]["id"]],)), 1)
        wait_until(lambda: scalar(self.conn, "SELECT status FROM ops.event_queue WHERE id = %s",
                                  (dead[0]["id"],)) == "done", timeout=15, message="the retried event")
        self.assertEqual(scalar(self.conn, "SELECT name FROM work_plane.items WHERE plane_id = %s", (self.poison,)),
                         "batch 3")
        self.assertEqual(self.crashes(), MAX_ATTEMPTS)


if __name__ == "__main__":
    unittest.main()
