\set VERBOSITY terse
-- Least privilege: separate roles for reading the mirror, administering, and ingesting webhooks;
-- nobody but the owner reads credentials; row-level security per workspace.
\set ECHO none
\i test/fixtures/vault_fixture.sql
\set ECHO all
SELECT vault.create_secret('plane_api_TOPSECRET', 'plane_api_key:acme') IS NOT NULL AS stored;
SELECT workspace_slug FROM work_plane.add_installation('acme');
SELECT workspace_slug FROM work_plane.add_installation('globex');
INSERT INTO work_plane.items (workspace_slug, plane_id, item_type, name, raw)
VALUES ('acme', 'a1', 'issue', 'acme item', '{}'), ('globex', 'g1', 'issue', 'globex item', '{}');
CREATE ROLE plane_test_alice LOGIN IN ROLE plane_connector_reader;
CREATE ROLE plane_test_bob LOGIN IN ROLE plane_connector_admin;
CREATE ROLE plane_test_hook LOGIN IN ROLE plane_connector_ingest;
CREATE ROLE plane_test_nobody LOGIN;
INSERT INTO work_plane.workspace_access VALUES ('plane_test_alice', 'acme');

-- A reader sees only its tenant's rows, and nothing else.
SET ROLE plane_test_alice;
SELECT workspace_slug, plane_id, name FROM work_plane.items ORDER BY 1;
SELECT workspace_slug, name FROM work_plane.work_items ORDER BY 1;
SELECT count(*) FROM work_plane.installations;
SELECT count(*) FROM work_plane.tokens_ref;
SELECT count(*) FROM ops.run_events;
SELECT decrypted_secret FROM vault.decrypted_secrets;
SELECT work_plane.add_installation('evil');
SELECT work_plane.sync_now('acme');
SELECT work_plane.ingest_webhook('acme', '{}', '{}');
UPDATE work_plane.items SET name = 'defaced';
RESET ROLE;

-- An admin administers and sees every workspace, but reads no credential.
SET ROLE plane_test_bob;
SELECT workspace_slug, plane_id FROM work_plane.items ORDER BY 1;
SELECT workspace_slug FROM work_plane.add_installation('initech');
SELECT work_plane.sync_now('initech');
SELECT count(*) FROM work_plane.sync_status;
SELECT decrypted_secret FROM vault.decrypted_secrets;
DELETE FROM work_plane.items;
SELECT work_plane.remove_installation('initech');
RESET ROLE;

-- The ingest role may call ingest_webhook and nothing else.
SET ROLE plane_test_hook;
SELECT work_plane.ingest_webhook('acme', '{}', '{"event": "issue"}');
SELECT count(*) FROM work_plane.items;
SELECT work_plane.process_events();
RESET ROLE;

-- A role without grants gets nothing.
SET ROLE plane_test_nobody;
SELECT count(*) FROM work_plane.items;
SELECT work_plane.ingest_webhook('acme', '{}', '{}');
RESET ROLE;

-- SECURITY DEFINER functions pin their search_path.
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'work_plane' AND p.prosecdef ORDER BY 1;

DROP ROLE plane_test_alice, plane_test_bob, plane_test_hook, plane_test_nobody;
DELETE FROM work_plane.installations;
DROP SCHEMA vault CASCADE;
