\set VERBOSITY terse
-- Least privilege: separate roles for reading the mirror, administering, and ingesting webhooks;
-- nobody but the owner reads credentials; row-level security per workspace.
\set ECHO none
\i test/fixtures/vault_fixture.sql
\set ECHO all
SELECT vault.create_secret('plane_api_TOPSECRET', 'plane_api_key:acme') IS NOT NULL AS stored;
SELECT workspace_slug FROM work_plane.add_installation('acme');
SELECT workspace_slug FROM work_plane.add_installation('globex');
INSERT INTO work_plane.items (workspace_slug, plane_id, item_type, name, project_plane_id, raw)
VALUES ('acme', 'a1', 'issue', 'acme item', 'p1', '{}'), ('globex', 'g1', 'issue', 'globex item', 'p2', '{}');
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
-- ...and cannot point an installation at a server of its choosing: credentials go only to the
-- hosts a superuser lists in plane.allowed_hosts, over https.
SELECT work_plane.add_installation('evil', api_url => 'https://plane.attacker.example');
SELECT work_plane.add_installation('evil', mcp_url => 'https://mcp.attacker.example/mcp');
SELECT work_plane.add_installation('evil', api_url => 'http://api.plane.so');
SELECT work_plane.add_installation('acme', api_url => 'https://attacker.example');
SELECT api_url FROM work_plane.installations WHERE workspace_slug = 'acme';
SELECT workspace_slug, api_url FROM work_plane.add_installation('cloudco', api_url => 'https://api.plane.so');
SELECT work_plane.remove_installation('cloudco');
-- A change records who asked for it (the caller, not the functions' owner).
SELECT work_plane.update_work_item('acme', 'a1', '{"name": "renamed"}') IS NOT NULL AS recorded;  -- refused: writeback is off
SELECT created_by, status FROM work_plane.pending_changes ORDER BY id DESC LIMIT 1;
-- A grant must name a role that exists.
INSERT INTO work_plane.workspace_access VALUES ('no_such_role', 'acme');
RESET ROLE;

-- A superuser may register another host (with a warning): the workers still send nothing there
-- until plane.allowed_hosts lists it.
SELECT workspace_slug, api_url FROM work_plane.add_installation('selfhosted', api_url => 'https://plane.internal.example');
SELECT work_plane.remove_installation('selfhosted');

-- A reader sees its own grants only, and a role dropped after its grant breaks no query.
CREATE ROLE plane_test_carol LOGIN IN ROLE plane_connector_reader;
INSERT INTO work_plane.workspace_access VALUES ('plane_test_carol', 'globex');
SET ROLE plane_test_alice;
SELECT role_name, workspace_slug FROM work_plane.workspace_access ORDER BY 1;
RESET ROLE;
DROP ROLE plane_test_carol;
SET ROLE plane_test_alice;
SELECT workspace_slug, plane_id FROM work_plane.items ORDER BY 1;
RESET ROLE;
DELETE FROM work_plane.workspace_access WHERE role_name = 'plane_test_carol';

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
