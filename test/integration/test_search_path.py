"""search_path: hostile look-alikes planted in public — a function for every function and aggregate
of pg_catalog, with the same signature, and an operator for every pg_catalog operator — put first
by ALTER DATABASE / ALTER ROLE / ALTER SYSTEM ... SET search_path. A sync, a queue drain, an ingest
through the embedded receiver and through SQL, and a writeback all run, and none of the
look-alikes ever runs: every worker pins search_path = pg_catalog, pg_temp at override level."""
import hashlib
import hmac
import json
import unittest
import urllib.error
import urllib.request

from harness import MirrorTestCase, free_port, query, scalar, wait_until

SECRET = "plane_wh_searchpath0123456789abcdef0123"
HOSTILE_PATH = "public, pg_catalog"

# Each look-alike records who called it (and warns in the server log), then returns NULL.
PLANT = r"""
CREATE TABLE public.hostile_calls (name text, backend_type text, pid int,
                                   at timestamptz DEFAULT pg_catalog.clock_timestamp());
CREATE FUNCTION public._hostile_body(fn text, ret text) RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $b$
  SELECT pg_catalog.format($h$
    BEGIN
      INSERT INTO public.hostile_calls (name, backend_type, pid)
      SELECT %L, a.backend_type, a.pid FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid();
      RAISE WARNING 'plane-hostile: %s called';
      RETURN %s;
    END $h$, fn, fn, ret)
$b$;
DO $plant$
DECLARE
  f record;
  o record;
  made int := 0;
  aggs int := 0;
  ops int := 0;
  ret text;
BEGIN
  -- Functions: the same name and arguments (defaults and OUT parameters included).
  FOR f IN SELECT p.oid, p.proname, p.proretset, p.prorettype, p.proallargtypes IS NOT NULL AS has_out
             FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
  LOOP
    ret := CASE WHEN f.proretset OR f.has_out OR f.prorettype = 'void'::regtype THEN '' ELSE 'NULL' END;
    BEGIN
      EXECUTE pg_catalog.format('CREATE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql '
                                'SET search_path = pg_catalog, pg_temp AS %L',
                                f.proname, pg_catalog.pg_get_function_arguments(f.oid),
                                pg_catalog.pg_get_function_result(f.oid), public._hostile_body(f.proname, ret));
      made := made + 1;
    EXCEPTION WHEN OTHERS THEN NULL;  -- pseudo-types plpgsql cannot take ("any", internal, cstring)
    END;
  END LOOP;
  -- Aggregates (count, min, max, sum, array_agg, jsonb_agg, ...): a hostile transition function.
  FOR f IN SELECT p.oid, p.proname, p.prorettype, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
                  p.pronargs
             FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
            WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'a' AND a.aggkind = 'n'
  LOOP
    BEGIN
      EXECUTE pg_catalog.format('CREATE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql '
                                'SET search_path = pg_catalog, pg_temp AS %L',
                                'hostile_sfunc_' || f.oid, f.prorettype::regtype ||
                                CASE WHEN f.pronargs > 0 THEN ', ' || f.args ELSE '' END,
                                f.prorettype::regtype, public._hostile_body(f.proname, 'NULL'));
      EXECUTE pg_catalog.format('CREATE AGGREGATE public.%I(%s) (SFUNC = public.%I, STYPE = %s)',
                                f.proname, CASE WHEN f.pronargs > 0 THEN f.args ELSE '*' END,
                                'hostile_sfunc_' || f.oid, f.prorettype::regtype);
      aggs := aggs + 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  -- Operators: every pg_catalog operator whose function got a look-alike.
  FOR o IN SELECT op.oprname, op.oprkind, op.oprleft, op.oprright, p.proname
             FROM pg_catalog.pg_operator op JOIN pg_catalog.pg_proc p ON p.oid = op.oprcode
            WHERE op.oprnamespace = 'pg_catalog'::regnamespace AND op.oprkind IN ('b', 'l')
  LOOP
    BEGIN
      IF o.oprkind = 'b' THEN
        EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.%I)',
                                  o.oprname, o.oprleft::regtype, o.oprright::regtype, o.proname);
      ELSE
        EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (RIGHTARG = %s, FUNCTION = public.%I)',
                                  o.oprname, o.oprright::regtype, o.proname);
      END IF;
      ops := ops + 1;
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END LOOP;
  RAISE NOTICE 'planted % functions, % aggregates, % operators', made, aggs, ops;
END
$plant$;
"""


class SearchPathTest(MirrorTestCase):
    RECEIVER_PORT = None

    @classmethod
    def setUpClass(cls):
        cls.RECEIVER_PORT = free_port()
        cls.CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                            f"plane.webhook_listen_address = '127.0.0.1:{cls.RECEIVER_PORT}'"]
        super().setUpClass()

    def pinned_connection(self, dbname=None):
        conn = self.cluster.connect(dbname)
        conn.cursor().execute("SET search_path = pg_catalog, pg_temp")
        return conn

    def post(self, slug, delivery):
        req = urllib.request.Request(f"http://127.0.0.1:{self.RECEIVER_PORT}/plane/webhook/{slug}",
                                     data=delivery["body"].encode(), method="POST", headers=delivery["headers"])
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def assert_none_ran(self, exclude_pid):
        ran = query(self.conn, "SELECT name, backend_type, count(*) AS calls FROM public.hostile_calls "
                               "WHERE pid IS DISTINCT FROM %s GROUP BY 1, 2 ORDER BY 1, 2", (exclude_pid,))
        if ran:
            self.fail(f"hostile look-alikes ran: {ran}")

    def item(self, plane_id):
        return query(self.conn, "SELECT * FROM work_plane.items WHERE plane_id = %s", (plane_id,))[0]

    def test_hostile_look_alikes_in_public_never_run(self):
        slug = "pinned"
        self.add_workspace(slug, projects=1, items=60, webhook_secret=SECRET)
        self.assertEqual(self.wait_for_run_end(slug)["action"], "sync")
        scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (SECRET, f"plane_webhook_secret:{slug}"))
        scalar(self.conn, "SELECT work_plane.set_writeback_policy(%s, 'enabled', 'keep_local')", (slug,))
        db = self.cluster.dbname

        self.conn.notices.clear()
        scalar(self.conn, PLANT)
        planted = [n for n in self.conn.notices if "planted" in n][0]
        made, aggs, ops = [int(w) for w in planted.split() if w.isdigit()]
        self.assertGreater(made, 2000, planted)
        self.assertGreater(aggs, 50, planted)
        self.assertGreater(ops, 500, planted)

        # Put them first everywhere a session's search_path can come from, and restart, so that
        # every worker connects under them (the database and role settings apply at connection).
        scalar(self.conn, f'ALTER DATABASE "{db}" SET search_path = {HOSTILE_PATH}')
        scalar(self.conn, f'ALTER ROLE postgres IN DATABASE "{db}" SET search_path = {HOSTILE_PATH}')
        scalar(self.conn, f"ALTER SYSTEM SET search_path = '{HOSTILE_PATH}'")
        self.conn.close()
        log_start = len(self.cluster.server_log())
        self.cluster.restart()
        type(self).conn = self.pinned_connection()

        # The trap works: code that does not pin its path runs the look-alikes.
        victim = self.cluster.connect()
        victim_pid = scalar(victim, "SELECT pg_catalog.pg_backend_pid()")
        self.assertEqual(scalar(victim, "SHOW search_path"), HOSTILE_PATH)
        self.assertIsNone(scalar(victim, "SELECT now()"))
        self.assertIsNone(scalar(victim, "SELECT 'a'::text = 'a'::text"))
        self.assertIsNone(scalar(victim, "SELECT count(*) FROM pg_class"))
        victim.close()
        self.assertEqual({r["name"] for r in query(self.conn, "SELECT DISTINCT name FROM public.hostile_calls "
                                                             "WHERE pid = %s", (victim_pid,))},
                         {"now", "texteq", "count"})
        scalar(self.conn, "DELETE FROM public.hostile_calls WHERE pid = %s", (victim_pid,))

        wait_until(lambda: scalar(self.conn, "SELECT work_plane.launcher_pid()")
                   and scalar(self.conn, "SELECT work_plane.queue_worker_pid()"), message="the workers")
        scalar(self.conn, "SELECT pg_reload_conf()")  # a reload does not undo the pin either
        truth = self.sim.state(slug)
        project = truth["projects"][0]["id"]
        live = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")]
        hostile = self.cluster.connect()  # a session under the hostile path, as a DBA's might be

        def wait(predicate, message, timeout=30):
            def step():
                self.assert_none_ran(victim_pid)  # fail at once, naming what ran
                return predicate()
            return wait_until(step, timeout=timeout, message=message)

        # A sync (the launcher starts a sync worker) picks up a change made in Plane.
        self.sim.mutate(workspace=slug, op="update", type="work_item", id=live[0]["id"], project=project,
                        fields={"name": "seen by the sync"})
        before = self.last_event_id()
        self.assertTrue(scalar(self.conn, "SELECT work_plane.sync_now(%s, true)", (slug,)))
        run = wait(lambda: (query(self.conn, "SELECT * FROM ops.run_events WHERE workspace_slug = %s AND id > %s "
                                             "AND action IN ('sync', 'sync_failed') ORDER BY id LIMIT 1",
                                  (slug, before)) or [None])[0], "the end of the sync run", timeout=60)
        self.assertEqual(run["action"], "sync", run["details"])
        self.assert_mirror_matches(slug)

        # Ingest through SQL from the hostile session; the queue worker drains it.
        out = self.sim.mutate(workspace=slug, op="update", type="work_item", id=live[1]["id"], project=project,
                              fields={"name": "ingested through SQL"})
        for d in out["webhooks"]:
            self.assertEqual(scalar(hostile, "SELECT work_plane.ingest_webhook(%s, %s::jsonb, %s)",
                                    (slug, json.dumps(d["headers"]), d["body"])), 200)
        wait(lambda: self.item(live[1]["id"])["name"] == "ingested through SQL",
             "the queue worker to apply the delivery")

        # Ingest through the embedded receiver (a worker of its own); the queue worker drains it.
        wait_until(lambda: self.post(slug, {"body": "{}", "headers": {}}) in (400, 401), timeout=15,
                   message="the receiver to listen")
        out = self.sim.mutate(workspace=slug, op="update", type="work_item", id=live[2]["id"], project=project,
                              fields={"name": "through the receiver"})
        for d in out["webhooks"]:
            self.assertEqual(self.post(slug, d), 200)
        wait(lambda: self.item(live[2]["id"])["name"] == "through the receiver",
             "the receiver's delivery to be applied")

        # A writeback, recorded from the hostile session, written by the sync worker.
        change = scalar(hostile, "SELECT work_plane.update_work_item(%s, %s, %s)",
                        (slug, live[3]["id"], json.dumps({"name": "written back", "priority": "high"})))
        done = wait(lambda: (lambda r: r if r["status"] != "pending" else None)(
            query(self.conn, "SELECT * FROM work_plane.pending_changes WHERE id = %s", (change,))[0]),
            "the writeback")
        self.assertEqual(done["status"], "applied", done)
        plane = {i["id"]: i for i in self.sim.state(slug)["work_items"]}[live[3]["id"]]
        self.assertEqual((plane["name"], plane["priority"]), ("written back", "high"))
        hostile.close()

        # None of the look-alikes ran, in any process.
        self.assert_none_ran(victim_pid)
        ran = [line for line in self.cluster.server_log()[log_start:].splitlines()
               if "plane-hostile" in line and f"[{victim_pid}]" not in line]
        self.assertEqual(ran, [])
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = %s "
                                           "AND status <> 'done' AND status <> 'ignored'", (slug,)), 0)


if __name__ == "__main__":
    unittest.main()
