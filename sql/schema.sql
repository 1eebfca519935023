\set VERBOSITY terse
-- Constraints the database itself enforces.
INSERT INTO work_plane.installations (workspace_slug) VALUES ('acme');
-- writeback_policy defaults to disabled.
SELECT writeback_policy, conflict_policy, auth_mode, enabled FROM work_plane.installations;
-- The database refuses enabled writeback without a documented conflict policy, whatever the path.
UPDATE work_plane.installations SET writeback_policy = 'enabled' WHERE workspace_slug = 'acme';
UPDATE work_plane.installations SET writeback_policy = 'enabled', conflict_policy = 'plane_wins'
 WHERE workspace_slug = 'acme';
UPDATE work_plane.installations SET writeback_policy = 'sometimes' WHERE workspace_slug = 'acme';
-- Slugs and API URLs are validated.
INSERT INTO work_plane.installations (workspace_slug) VALUES ('bad slug; drop table x');
INSERT INTO work_plane.installations (workspace_slug, api_url) VALUES ('beta', 'ftp://plane.example');
INSERT INTO work_plane.installations (workspace_slug, api_url) VALUES ('beta', 'https://user:pw@plane.example');
-- plane_id is unique per workspace; item_type is constrained.
INSERT INTO work_plane.items (workspace_slug, plane_id, item_type, raw) VALUES ('acme', 'a', 'issue', '{}');
INSERT INTO work_plane.items (workspace_slug, plane_id, item_type, raw) VALUES ('acme', 'a', 'issue', '{}');
INSERT INTO work_plane.items (workspace_slug, plane_id, item_type, raw) VALUES ('acme', 'b', 'epic', '{}');
-- tokens_ref holds Vault key names only.
INSERT INTO work_plane.tokens_ref (workspace_slug, kind, vault_secret_name) VALUES ('acme', 'api_key', 'plane_api_key:acme');
INSERT INTO work_plane.tokens_ref (workspace_slug, kind, vault_secret_name) VALUES ('acme', 'api_key', 'plane_api_0123456789abcdef 0123');
-- ops.event_queue.idempotency_key is unique.
INSERT INTO ops.event_queue (source, idempotency_key, payload) VALUES ('plane', 'plane:event:1', '{}');
INSERT INTO ops.event_queue (source, idempotency_key, payload) VALUES ('plane', 'plane:event:1', '{}');
-- Removing an installation removes its mirror rows.
SELECT count(*) FROM work_plane.items;
DELETE FROM work_plane.installations WHERE workspace_slug = 'acme';
SELECT count(*) FROM work_plane.items;
-- DROP EXTENSION removes what it created and leaves a pre-existing ops schema alone.
DROP EXTENSION plane_connector;
SELECT count(*) AS plane_schemas FROM pg_namespace WHERE nspname IN ('work_plane', 'ops');
CREATE SCHEMA ops;
CREATE TABLE ops.other_connector_state (id int);
CREATE EXTENSION plane_connector CASCADE;
DROP EXTENSION plane_connector;
SELECT to_regclass('ops.other_connector_state') AS kept, to_regclass('ops.event_queue') AS dropped;
DROP SCHEMA ops CASCADE;
-- ops is shared: another connector's rows and tables in it survive DROP EXTENSION (even CASCADE),
-- plane's own rows go, and a new CREATE EXTENSION takes the tables over again.
CREATE EXTENSION plane_connector CASCADE;
CREATE TABLE ops.github_state (id int);
INSERT INTO ops.event_queue (source, idempotency_key, payload) VALUES ('github', 'github:1', '{}'), ('plane', 'plane:event:2', '{}');
INSERT INTO ops.run_events (source, action) VALUES ('github', 'synced'), ('plane', 'sync');
DROP EXTENSION plane_connector CASCADE;
SELECT to_regclass('ops.github_state') AS other_table, to_regnamespace('ops') AS schema_kept,
       to_regnamespace('work_plane') AS plane_schema;
SELECT source, idempotency_key FROM ops.event_queue ORDER BY 1;
SELECT source, action FROM ops.run_events ORDER BY 1;
CREATE EXTENSION plane_connector CASCADE;
SELECT source FROM ops.event_queue ORDER BY 1;
SELECT count(*) AS ours_again FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'plane_connector'
 WHERE d.classid = 'pg_class'::regclass AND d.objid IN ('ops.event_queue'::regclass, 'ops.run_events'::regclass)
   AND d.deptype = 'e';
DROP TABLE ops.github_state;
DELETE FROM ops.event_queue WHERE source = 'github';
DELETE FROM ops.run_events WHERE source = 'github';
