"""Upgrades: an installed 0.1.0, filled with configuration, mirror rows, a pending writeback, queued
events and audit rows, is carried to 0.2.0 by ALTER EXTENSION plane_connector UPDATE. The data is
kept, the workers (which idle while 0.1.0 is installed) carry on, and the catalog of the upgraded
database equals that of a fresh 0.2.0 install, object for object."""
import difflib
import json
import unittest

import psycopg2

from harness import (VAULT_FIXTURE, Cluster, MirrorTestCase, Simulator, query, scalar, utc,
                     wait_until)

SCHEMAS = "('work_plane', 'ops')"

# Each query yields one text per object, free of OIDs, so that two databases can be compared.
CATALOG = {
    "schemas": f"""
        SELECT n.nspname || ' owner=' || n.nspowner::regrole || ' acl=' || coalesce(n.nspacl::text, '-')
          FROM pg_namespace n WHERE n.nspname IN {SCHEMAS}""",
    "relations": f"""
        SELECT n.nspname || '.' || c.relname || ' kind=' || c.relkind::text || ' owner=' || c.relowner::regrole
               || ' persistence=' || c.relpersistence::text || ' rls=' || c.relrowsecurity
               || ' force_rls=' || c.relforcerowsecurity || ' options=' || coalesce(c.reloptions::text, '-')
               || ' replident=' || c.relreplident::text
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN {SCHEMAS} AND c.relkind <> 'i'""",
    "columns": f"""
        SELECT n.nspname || '.' || c.relname || ' #' || row_number() OVER w || ' ' || a.attname || ' '
               || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
               || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
               || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
               || CASE WHEN a.attgenerated <> '' THEN ' GENERATED ' || a.attgenerated::text ELSE '' END
               || ' collation=' || coalesce(nullif(a.attcollation, 0)::regcollation::text, '-')
               || ' acl=' || coalesce(a.attacl::text, '-')
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname IN {SCHEMAS} AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'c') AND a.attnum > 0
           AND NOT a.attisdropped
        WINDOW w AS (PARTITION BY a.attrelid ORDER BY a.attnum)""",
    "constraints": f"""
        SELECT n.nspname || '.' || c.relname || ' ' || k.conname || ' ' || k.contype::text || ' '
               || pg_get_constraintdef(k.oid) || ' deferrable=' || k.condeferrable
               || ' validated=' || k.convalidated
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN {SCHEMAS}""",
    "indexes": f"""
        SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN {SCHEMAS}""",
    "sequences": f"""
        SELECT n.nspname || '.' || c.relname || ' ' || s.seqtypid::regtype || ' start=' || s.seqstart
               || ' inc=' || s.seqincrement || ' min=' || s.seqmin || ' max=' || s.seqmax
               || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN {SCHEMAS}""",
    "functions": f"""
        SELECT pg_get_functiondef(p.oid) || ' owner=' || p.proowner::regrole || ' acl='
               || coalesce(p.proacl::text, '-')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN {SCHEMAS} AND p.prokind IN ('f', 'p')""",
    "other_routines": f"""
        SELECT p.oid::regprocedure || ' kind=' || p.prokind::text FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN {SCHEMAS} AND p.prokind NOT IN ('f', 'p')""",
    "views": f"""
        SELECT n.nspname || '.' || c.relname || ': ' || pg_get_viewdef(c.oid, true)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN {SCHEMAS} AND c.relkind IN ('v', 'm')""",
    "policies": f"""
        SELECT schemaname || '.' || tablename || ' ' || policyname || ' ' || permissive || ' ' || roles::text
               || ' ' || cmd || ' USING ' || coalesce(qual, '-') || ' CHECK ' || coalesce(with_check, '-')
          FROM pg_policies WHERE schemaname IN {SCHEMAS}""",
    "triggers": f"""
        SELECT pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN {SCHEMAS} AND NOT t.tgisinternal""",
    "event_triggers": """
        SELECT e.evtname || ' ' || e.evtevent || ' ' || e.evtfoid::regprocedure || ' enabled=' || e.evtenabled::text
               || ' tags=' || coalesce(e.evttags::text, '-') || ' owner=' || e.evtowner::regrole
          FROM pg_event_trigger e""",
    "types": f"""
        SELECT n.nspname || '.' || t.typname || ' ' || t.typtype::text FROM pg_type t
          JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname IN {SCHEMAS}""",
    "operators": f"""
        SELECT o.oid::regoperator::text FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
         WHERE n.nspname IN {SCHEMAS}""",
    "comments": f"""
        SELECT (pg_identify_object(d.classoid, d.objoid, d.objsubid)).type || ' '
               || (pg_identify_object(d.classoid, d.objoid, d.objsubid)).identity || ': ' || d.description
          FROM pg_description d
         WHERE (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema IN {SCHEMAS}
            OR (d.classoid = 'pg_namespace'::regclass AND d.objoid::regnamespace::text IN {SCHEMAS})""",
    # pg_dump decides which GRANTs and REVOKEs of extension members to dump from pg_init_privs.
    "init_privs": """
        SELECT (pg_identify_object(i.classoid, i.objoid, i.objsubid)).type || ' '
               || (pg_identify_object(i.classoid, i.objoid, i.objsubid)).identity || ' ' || i.privtype::text
               || ' ' || i.initprivs::text
          FROM pg_init_privs i
          JOIN pg_depend d ON d.classid = i.classoid AND d.objid = i.objoid AND d.deptype = 'e'
          JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'plane_connector'""",
    "members": """
        SELECT (pg_identify_object(d.classid, d.objid, d.objsubid)).type || ' '
               || (pg_identify_object(d.classid, d.objid, d.objsubid)).identity
          FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
         WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND x.extname = 'plane_connector'""",
    "extension": """
        SELECT x.extname || ' ' || x.extversion || ' schema=' || x.extnamespace::regnamespace
               || ' relocatable=' || x.extrelocatable || ' owner=' || x.extowner::regrole
               || ' config=' || coalesce((SELECT string_agg(c::regclass::text || ' ' || coalesce(w, '(all)'), '; '
                                                            ORDER BY c::regclass::text)
                                            FROM unnest(x.extconfig, x.extcondition) AS u(c, w)), '-')
          FROM pg_extension x WHERE x.extname = 'plane_connector'""",
}


def catalog(conn):
    return {name: sorted(row[0] for row in _fetch(conn, sql)) for name, sql in CATALOG.items()}


def _fetch(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()


def catalog_diff(upgraded, fresh):
    lines = []
    for name in CATALOG:
        if upgraded[name] != fresh[name]:
            lines += difflib.unified_diff(fresh[name], upgraded[name], f"{name} (fresh 0.2.0)",
                                          f"{name} (0.1.0 updated)", lineterm="", n=0)
    return "\n".join(lines)


# The tables 0.1.0 has, each ordered by its key, as they read before the update.
TABLES_010 = {
    "work_plane.installations": "workspace_slug",
    "work_plane.tokens_ref": "workspace_slug, user_id, kind",
    "work_plane.oauth_states": "state_sha256",
    "work_plane.projects": "workspace_slug, plane_id",
    "work_plane.items": "workspace_slug, plane_id",
    "work_plane.pages": "workspace_slug, plane_id",
    "work_plane.states": "workspace_slug, plane_id",
    "work_plane.labels": "workspace_slug, plane_id",
    "work_plane.events_cursor": "workspace_slug, resource",
    "work_plane.sync_state": "workspace_slug",
    "work_plane.pending_changes": "id",
    "work_plane.workspace_access": "role_name, workspace_slug",
    "ops.event_queue": "id",
    "ops.run_events": "id",
}


def table_rows(conn, columns):
    """{table: [row as a dict of the 0.1.0 columns]}"""
    out = {}
    for table, order in TABLES_010.items():
        cols = columns[table]
        select = ", ".join('"' + c + '"' for c in cols)
        out[table] = [dict(zip(cols, r)) for r in _fetch(conn, f"SELECT {select} FROM {table} ORDER BY {order}")]
    return out


class UpgradeTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    @classmethod
    def setUpClass(cls):
        # No extension yet: the test installs 0.1.0 itself.
        cls.sim = Simulator(*cls.SIM_ARGS)
        cls.cluster = Cluster([f"plane.page_size = {cls.PAGE_SIZE}", "plane.launcher_naptime = 1"]
                              + list(cls.CLUSTER_CONF))
        cls.conn = None
        try:
            cls.cluster.start()
            cls.conn = cls.cluster.connect()
        except Exception:
            cls.tearDownClass()
            raise

    def test_update_from_0_1_0_keeps_data_and_equals_a_fresh_install(self):
        c = self.conn
        # 0.1.0 installs with today's library: every C symbol its script names still exists.
        scalar(c, "CREATE EXTENSION plane_connector VERSION '0.1.0'")
        scalar(c, VAULT_FIXTURE.read_text())
        self.assertEqual(scalar(c, "SELECT extversion FROM pg_extension WHERE extname = 'plane_connector'"), "0.1.0")
        # The library's workers idle, and say why.
        wait_until(lambda: "expects extension version 0.2.0 but 0.1.0 is installed" in self.cluster.server_log(),
                   timeout=20, message="the launcher's note that it waits for ALTER EXTENSION ... UPDATE")

        # Fill 0.1.0 through its own functions where they exist, else as its workers would have.
        key = self.add_workspace("legacy", projects=1, items=40, webhook_secret="plane_wh_" + "l" * 32)
        truth = self.sim.state("legacy")
        project = truth["projects"][0]
        live = [i for i in truth["work_items"] if not i.get("archived_at") and not i.get("is_draft")]
        scalar(c, """INSERT INTO work_plane.projects (workspace_slug, plane_id, name, identifier, network,
                                                      plane_created_at, plane_updated_at, raw)
                     VALUES ('legacy', %s, %s, %s, %s, %s, %s, %s)""",
               (project["id"], project["name"], project["identifier"], project.get("network"),
                utc(project["created_at"]), utc(project["updated_at"]), json.dumps(project)))
        for it in live[:10]:
            scalar(c, """INSERT INTO work_plane.items (workspace_slug, plane_id, item_type, project_plane_id, name,
                                                       sequence_id, label_ids, plane_created_at, plane_updated_at, raw)
                         VALUES ('legacy', %s, 'issue', %s, %s, %s, %s, %s, %s, %s)""",
                   (it["id"], it["project"], it["name"], it["sequence_id"], it["labels"],
                    utc(it["created_at"]), utc(it["updated_at"]), json.dumps(it)))
        scalar(c, """INSERT INTO work_plane.events_cursor (workspace_slug, resource, watermark, cursor)
                     VALUES ('legacy', 'work_items:' || %s, now() - interval '1 day', '50:1:0')""", (project["id"],))
        scalar(c, "INSERT INTO work_plane.tokens_ref (workspace_slug, kind, vault_secret_name) "
                  "VALUES ('legacy', 'webhook_secret', 'plane_webhook_secret:legacy')")
        scalar(c, "DROP ROLE IF EXISTS legacy_analyst")
        scalar(c, "CREATE ROLE legacy_analyst IN ROLE plane_connector_reader")
        scalar(c, "INSERT INTO work_plane.workspace_access VALUES ('legacy_analyst', 'legacy')")
        scalar(c, "SELECT work_plane.set_writeback_policy('legacy', 'enabled', 'keep_local')")
        change = scalar(c, "SELECT work_plane.update_work_item('legacy', %s, %s)",
                        (live[0]["id"], json.dumps({"name": "written after the upgrade"})))
        # A delivery queued under 0.1.0, another connector's row, and a dead letter.
        delivery = self.sim.mutate(workspace="legacy", op="update", type="work_item", id=live[1]["id"],
                                   project=project["id"], fields={"name": "queued under 0.1.0"})
        v2 = [d for d in delivery["webhooks"] if d["version"] == "v2"][0]
        body = json.loads(v2["body"])
        scalar(c, """INSERT INTO ops.event_queue (source, idempotency_key, workspace_slug, event_type, payload)
                     VALUES ('plane', %s, 'legacy', %s, %s)""",
               ("plane:event:" + body["event_id"], body["event"], v2["body"]))
        # A delivery through 0.1.0's ingest_webhook, served by today's library.
        scalar(c, "SELECT vault.create_secret(%s, 'plane_webhook_secret:legacy')", ("plane_wh_" + "l" * 32,))
        through_ingest = self.sim.mutate(workspace="legacy", op="update", type="work_item", id=live[2]["id"],
                                         project=project["id"], fields={"name": "ingested under 0.1.0"})
        ingested = [d for d in through_ingest["webhooks"] if d["version"] == "v2"][0]
        self.assertEqual(scalar(c, "SELECT work_plane.ingest_webhook('legacy', %s::jsonb, %s)",
                                (json.dumps(ingested["headers"]), ingested["body"])), 200)
        scalar(c, """INSERT INTO ops.event_queue (source, idempotency_key, payload, status)
                     VALUES ('other_connector', 'other:1', '{"x": 1}', 'done')""")
        scalar(c, """INSERT INTO ops.event_queue (source, idempotency_key, workspace_slug, event_type, payload,
                                                  status, attempts, last_error)
                     VALUES ('plane', 'plane:event:dead-one', 'legacy', 'workitem.updated', '{"event": "x"}',
                             'dead', 8, 'kept as it was')""")
        self.assertEqual(scalar(c, "SELECT state FROM work_plane.sync_state WHERE workspace_slug = 'legacy'"), "queued")

        columns = {t: [r[0] for r in _fetch(c, f"""SELECT attname FROM pg_attribute WHERE attrelid = '{t}'::regclass
                                                   AND attnum > 0 AND NOT attisdropped ORDER BY attnum""")]
                   for t in TABLES_010}
        before = table_rows(c, columns)
        self.assertTrue(all(before[t] for t in ("work_plane.installations", "work_plane.items",
                                                 "work_plane.pending_changes", "ops.event_queue", "ops.run_events")))

        # 0.2.0 requires pg_trgm and unaccent, which an installation made with 0.1.0 lacks: the
        # update refuses to start without them, and runs once they are created.
        with self.assertRaises(psycopg2.Error) as refused:
            scalar(c, "ALTER EXTENSION plane_connector UPDATE")
        self.assertIn('required extension "pg_trgm" is not installed', str(refused.exception))
        self.assertEqual(scalar(c, "SELECT extversion FROM pg_extension WHERE extname = 'plane_connector'"), "0.1.0")
        scalar(c, "CREATE EXTENSION pg_trgm")
        scalar(c, "CREATE EXTENSION unaccent")

        # The update, and the data read back in its own transaction (before any worker sees 0.2.0).
        c.autocommit = False
        try:
            cur = c.cursor()
            cur.execute("ALTER EXTENSION plane_connector UPDATE")
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'plane_connector'")
            self.assertEqual(cur.fetchone()[0], "0.2.0")
            after = table_rows(c, columns)
            cur.execute("SELECT count(*) FILTER (WHERE module_ids = '{}' AND change_source IS NULL), count(*) "
                        "FROM work_plane.items")
            defaults, items = cur.fetchone()
            cur.execute("SELECT access FROM work_plane.projects")
            access = [r[0] for r in cur.fetchall()]
            c.commit()
        finally:
            c.rollback()  # nothing left to roll back unless the update failed
            c.autocommit = True
        # The update indexes what 0.1.0 mirrored, and records that it did: the only row it adds.
        rebuilt = [r for r in after["ops.run_events"] if r["action"] == "search_index_rebuilt"]
        self.assertEqual([r["details"]["documents"] for r in rebuilt],
                         [len([r for r in before["work_plane.items"] if r["gone_at"] is None])])
        after["ops.run_events"] = [r for r in after["ops.run_events"] if r not in rebuilt]
        for table in TABLES_010:
            self.assertEqual(after[table], before[table], f"{table} changed by the update")
        self.assertEqual(defaults, items)  # new columns took their defaults
        self.assertEqual(access, ["readable"])
        # What 0.1.0 mirrored is searchable and has its first observation, as if synced by 0.2.0.
        issues = scalar(c, "SELECT count(*) FROM work_plane.items WHERE item_type = 'issue'")
        self.assertGreater(issues, 0)
        self.assertEqual(scalar(c, "SELECT count(*) FROM work_plane.items WHERE item_type = 'issue' AND "
                                   "description_text IS NOT DISTINCT FROM "
                                   "work_plane.html_to_text(raw ->> 'description_html')"), issues)
        self.assertEqual(scalar(c, "SELECT count(*) FROM work_plane.item_history WHERE source = 'upgrade' "
                                   "AND field = 'observed'"), issues)

        # The workers carry on with 0.2.0: the queued delivery is applied, the pending writeback is
        # written to Plane, and the sync that 0.1.0 recorded runs and converges.
        wait_until(lambda: scalar(c, "SELECT status FROM ops.event_queue WHERE workspace_slug = 'legacy' "
                                     "AND idempotency_key = %s", ("plane:event:" + body["event_id"],)) == "done",
                   timeout=30, message="the delivery queued under 0.1.0 to be applied")
        wait_until(lambda: scalar(c, "SELECT status FROM ops.event_queue WHERE delivery_id = %s",
                                  (json.loads(ingested["body"])["delivery_id"],)) == "done",
                   timeout=30, message="the delivery ingested under 0.1.0 to be applied")
        done = wait_until(lambda: (lambda r: r if r["status"] != "pending" else None)(
            query(c, "SELECT * FROM work_plane.pending_changes WHERE id = %s", (change,))[0]),
            timeout=30, message="the writeback recorded under 0.1.0")
        self.assertEqual(done["status"], "applied", done)
        plane_item = {i["id"]: i for i in self.sim.state("legacy")["work_items"]}[live[0]["id"]]
        self.assertEqual(plane_item["name"], "written after the upgrade")
        wait_until(lambda: (self.status("legacy") or {}).get("last_success_at"), timeout=60,
                   message="a successful sync after the update")
        self.assert_mirror_matches("legacy")
        self.assertEqual(scalar(c, "SELECT status FROM ops.event_queue WHERE idempotency_key = 'plane:event:dead-one'"),
                         "dead")
        self.assertEqual(scalar(c, "SELECT count(*) FROM ops.event_queue WHERE source = 'other_connector'"), 1)
        # Tenancy still holds after the update.
        c.cursor().execute("SET ROLE legacy_analyst")
        try:
            self.assertGreater(scalar(c, "SELECT count(*) FROM work_plane.items"), 0)
        finally:
            c.cursor().execute("RESET ROLE")

        # The catalog equals a fresh 0.2.0 install's, in another database of the same cluster.
        fresh_db = "fresh_020"
        admin = self.cluster.connect("postgres")
        try:
            scalar(admin, f"DROP DATABASE IF EXISTS {fresh_db}")
            scalar(admin, f"CREATE DATABASE {fresh_db}")
        finally:
            admin.close()
        fresh = self.cluster.connect(fresh_db)
        try:
            scalar(fresh, "CREATE EXTENSION plane_connector CASCADE")
            upgraded_catalog, fresh_catalog = catalog(c), catalog(fresh)
        finally:
            fresh.close()
        self.assertGreater(len(fresh_catalog["functions"]), 30)
        self.assertGreater(len(fresh_catalog["columns"]), 150)
        diff = catalog_diff(upgraded_catalog, fresh_catalog)
        if diff:
            self.fail("the updated catalog differs from a fresh 0.2.0 install:\n" + diff)


if __name__ == "__main__":
    unittest.main()
