-- plane_connector 0.1.0 -> 0.2.0. Every schema change since 0.1.0; test/integration/test_upgrade.py
-- installs 0.1.0, fills it, updates, and compares the catalog with a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION plane_connector UPDATE" to load this file. \quit

-- The mirror: what the key can read, who wrote a row, content, membership, the server's profile.
ALTER TABLE work_plane.projects
  ADD COLUMN is_member boolean,
  ADD COLUMN timezone text,
  ADD COLUMN access text NOT NULL DEFAULT 'readable' CHECK (access IN ('readable', 'not_member', 'forbidden')),
  ADD COLUMN access_reason text,
  ADD COLUMN access_checked_at timestamptz,
  ADD COLUMN change_source text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback'));
COMMENT ON COLUMN work_plane.projects.access IS
  'Whether the key can read the project''s lists: not_member (listed as public, the key''s user never joined: not asked), forbidden (its lists answered 403); both re-checked by sync_now(full => true). Rows under such a project are kept as they were.';
ALTER TABLE work_plane.items
  ADD COLUMN change_source text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
  ADD COLUMN description_text text,
  ADD COLUMN cycle_plane_id text,
  ADD COLUMN module_ids text[] NOT NULL DEFAULT '{}';
ALTER TABLE work_plane.pages
  ADD COLUMN change_source text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
  ADD COLUMN content_text text;
ALTER TABLE work_plane.states
  ADD COLUMN change_source text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback'));
ALTER TABLE work_plane.labels
  ADD COLUMN change_source text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback'));
ALTER TABLE work_plane.events_cursor
  ADD COLUMN unavailable_reason text,
  ADD COLUMN checked_at timestamptz;
-- What the workers learned about an installation's server, once: the work items route
-- (Community Edition before v1.1.0 has only issues/) and the largest page it serves.
CREATE TABLE work_plane.api_profile (
  workspace_slug   text PRIMARY KEY REFERENCES work_plane.installations ON DELETE CASCADE,
  work_items_route text CHECK (work_items_route IN ('work-items', 'issues')),
  page_size        int CHECK (page_size BETWEEN 1 AND 1000),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Writeback: partial changes (values Plane silently dropped), and who asked for a change.
ALTER TABLE work_plane.pending_changes DROP CONSTRAINT pending_changes_status_check;
ALTER TABLE work_plane.pending_changes ADD CONSTRAINT pending_changes_status_check
  CHECK (status IN ('pending', 'applied', 'partial', 'conflict', 'discarded', 'gone', 'failed', 'refused'));
ALTER TABLE work_plane.pending_changes ADD COLUMN dropped jsonb;
COMMENT ON COLUMN work_plane.pending_changes.created_by IS 'The role that called update_work_item or create_work_item';
COMMENT ON TABLE work_plane.pending_changes IS
  'Local changes to Plane work items: pending until written; partial when Plane accepted but silently dropped values (non-member assignees, other projects'' labels: see dropped); conflict (kept, keep_local) or discarded (plane_wins) when Plane changed first';

-- C helpers.
CREATE FUNCTION work_plane._calling_user() RETURNS name
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'plane_calling_user';
COMMENT ON FUNCTION work_plane._calling_user() IS
  'The role that called the current SECURITY DEFINER function (current_user there is its owner)';
CREATE FUNCTION work_plane._check_credential_url(url text, what text) RETURNS void
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_check_credential_url';
COMMENT ON FUNCTION work_plane._check_credential_url(text, text) IS
  'Refuses a URL that may not receive Plane credentials (plane.allowed_hosts, https except loopback) unless the calling role is a superuser, who is warned';
CREATE FUNCTION work_plane._unserved_reason() RETURNS text
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_unserved_reason';
COMMENT ON FUNCTION work_plane._unserved_reason() IS
  'Why no plane_connector launcher serves this database (not preloaded, another plane.database, a standby), NULL when one does';
CREATE FUNCTION work_plane._request_cancel(workspace_slug text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'plane_request_cancel';
CREATE FUNCTION work_plane._mirror_columns(OUT table_name text, OUT column_name text, OUT sql_type text)
  RETURNS SETOF record LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'plane_mirror_columns';
COMMENT ON FUNCTION work_plane._mirror_columns() IS
  'The typed mirror columns as the C++ code writes them (compared with the tables by a regression test)';

-- The one writer of sync requests: sync_now, writeback and the queue (a payload the sync must
-- fetch) all ask here. Requests coalesce: one made while another is pending or running only keeps
-- the flag set.
CREATE FUNCTION work_plane._request_sync(p_slug text, p_full boolean) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  UPDATE work_plane.sync_state s
     SET requested_at = coalesce(s.requested_at, now()),
         full_requested = s.full_requested OR coalesce(p_full, false),
         state = CASE WHEN s.state IN ('running', 'queued') THEN s.state ELSE 'queued' END,
         updated_at = now()
   WHERE s.workspace_slug = p_slug;
END
$fn$;

-------------------------------------------------------------------------------------------------
-- The SQL surface.
-------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION work_plane.add_installation(
  workspace_slug text,
  space_id uuid DEFAULT NULL,
  api_url text DEFAULT NULL,
  poll_interval interval DEFAULT NULL,
  mcp_url text DEFAULT NULL
) RETURNS work_plane.installations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  result work_plane.installations;
BEGIN
  IF workspace_slug IS NULL OR workspace_slug !~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$' THEN
    RAISE EXCEPTION 'invalid Plane workspace slug: %', coalesce(quote_literal(left(workspace_slug, 60)), 'NULL')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A slug is 1-48 letters, digits, "-" or "_", as in https://app.plane.so/<slug>/.';
  END IF;
  IF api_url IS NOT NULL AND api_url !~ '^https?://[^[:space:]/?#@]+(/[^[:space:]?#]*)?$' THEN
    RAISE EXCEPTION 'invalid Plane API URL: must be http(s)://host[/path] without credentials, query or fragment'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF mcp_url IS NOT NULL AND mcp_url !~ '^https?://[^[:space:]/?#@]+(/[^[:space:]?#]*)?$' THEN
    RAISE EXCEPTION 'invalid Plane MCP URL: must be http(s)://host[/path] without credentials, query or fragment'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- The workers send this workspace's credentials there: only to hosts plane.allowed_hosts lists.
  PERFORM work_plane._check_credential_url(api_url, 'api_url');
  PERFORM work_plane._check_credential_url(mcp_url, 'mcp_url');
  INSERT INTO work_plane.installations AS i (workspace_slug, space_id, api_url, poll_interval, mcp_url)
  VALUES (add_installation.workspace_slug, add_installation.space_id,
          rtrim(add_installation.api_url, '/'), add_installation.poll_interval, add_installation.mcp_url)
  ON CONFLICT ON CONSTRAINT installations_pkey DO UPDATE
    SET space_id = coalesce(excluded.space_id, i.space_id),
        api_url = coalesce(excluded.api_url, i.api_url),
        poll_interval = coalesce(excluded.poll_interval, i.poll_interval),
        mcp_url = coalesce(excluded.mcp_url, i.mcp_url),
        updated_at = now()
  RETURNING * INTO result;
  INSERT INTO work_plane.sync_state (workspace_slug) VALUES (add_installation.workspace_slug)
  ON CONFLICT DO NOTHING;
  -- A new installation is due at once: let the launcher see it at commit rather than at its next nap.
  PERFORM work_plane._wake_launcher_at_commit();
  INSERT INTO ops.run_events (source, workspace_slug, action, details)
  VALUES ('plane', add_installation.workspace_slug, 'installation_added',
          jsonb_build_object('api_url', result.api_url, 'space_id', result.space_id));
  RETURN result;
END
$fn$;

CREATE OR REPLACE FUNCTION work_plane.sync_now(workspace_slug text, "full" boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  is_enabled boolean;
  unserved text;
BEGIN
  SELECT i.enabled INTO is_enabled FROM work_plane.installations i
   WHERE i.workspace_slug = sync_now.workspace_slug;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown Plane workspace: %', quote_literal(left(sync_now.workspace_slug, 60))
      USING ERRCODE = 'no_data_found',
            HINT = 'Register it first with SELECT work_plane.add_installation(''<slug>'').';
  END IF;
  IF NOT is_enabled THEN
    RAISE EXCEPTION 'Plane workspace % is disabled', quote_literal(sync_now.workspace_slug)
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF EXISTS (SELECT 1 FROM work_plane.installations i WHERE i.workspace_slug = sync_now.workspace_slug
                AND i.auth_status = 'reauthorization_required') THEN
    RAISE EXCEPTION 'Plane workspace % needs re-authorisation: Plane refused to renew its OAuth token',
      quote_literal(sync_now.workspace_slug)
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Run SELECT work_plane.oauth_authorize_url(''<slug>'', ''<redirect_uri>'') and complete the flow with work_plane.oauth_callback.';
  END IF;
  PERFORM work_plane._request_sync(sync_now.workspace_slug, sync_now."full");
  unserved := work_plane._unserved_reason();
  IF unserved IS NOT NULL THEN
    RAISE WARNING 'the sync request is recorded, but no plane_connector worker serves this database: %', unserved
      USING HINT = 'Add plane_connector to shared_preload_libraries and set plane.database to this database, then restart Postgres.';
    RETURN false;
  END IF;
  PERFORM work_plane._wake_launcher_at_commit();
  RETURN true;
END
$fn$;

CREATE OR REPLACE FUNCTION work_plane.cancel_sync(workspace_slug text) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  was_running boolean;
  signalled boolean;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM work_plane.installations i WHERE i.workspace_slug = cancel_sync.workspace_slug) THEN
    RAISE EXCEPTION 'unknown Plane workspace: %', quote_literal(left(cancel_sync.workspace_slug, 60))
      USING ERRCODE = 'no_data_found';
  END IF;
  -- A pending request is withdrawn; a running sync is asked to stop through shared memory (never
  -- by a pid, which may have been reused): it records 'cancelled' and keeps its cursor, so the
  -- next run resumes.
  UPDATE work_plane.sync_state s
     SET requested_at = NULL, full_requested = false, cancel_requested = (s.state = 'running'),
         state = CASE WHEN s.state = 'queued' THEN 'cancelled' ELSE s.state END, updated_at = now()
   WHERE s.workspace_slug = cancel_sync.workspace_slug
  RETURNING s.state = 'running' INTO was_running;
  signalled := coalesce(was_running, false) AND work_plane._request_cancel(cancel_sync.workspace_slug);
  INSERT INTO ops.run_events (source, workspace_slug, action, details)
  VALUES ('plane', cancel_sync.workspace_slug, 'sync_cancel_requested', jsonb_build_object('running', signalled));
  RETURN signalled;
END
$fn$;

CREATE OR REPLACE FUNCTION work_plane._record_change(p_slug text, p_op text, p_plane_id text, p_project text,
                                          p_patch jsonb, p_base timestamptz) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  policy text;
  change_id bigint;
BEGIN
  PERFORM work_plane._validate_patch(p_patch, p_op = 'create');
  SELECT i.writeback_policy INTO policy FROM work_plane.installations i WHERE i.workspace_slug = p_slug;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown Plane workspace: %', quote_literal(left(p_slug, 60)) USING ERRCODE = 'no_data_found';
  END IF;
  IF policy <> 'enabled' THEN
    -- Refused, and the refusal is kept: the audit row and the change row both say so.
    INSERT INTO work_plane.pending_changes (workspace_slug, op, plane_id, project_plane_id, patch, base_updated_at, status, resolved_at, created_by)
    VALUES (p_slug, p_op, p_plane_id, p_project, p_patch, p_base, 'refused', now(), work_plane._calling_user())
    RETURNING id INTO change_id;
    INSERT INTO ops.run_events (source, workspace_slug, action, details)
    VALUES ('plane', p_slug, 'writeback_refused',
            jsonb_build_object('change_id', change_id, 'op', p_op, 'object', p_plane_id,
                               'reason', 'writeback_policy is disabled'));
    RAISE WARNING 'writeback to Plane is disabled for workspace %: change % recorded as refused', p_slug, change_id
      USING HINT = format('SELECT work_plane.set_writeback_policy(%L, %L, conflict_policy => %L)', p_slug, 'enabled', 'keep_local');
    RETURN change_id;
  END IF;
  INSERT INTO work_plane.pending_changes (workspace_slug, op, plane_id, project_plane_id, patch, base_updated_at, created_by)
  VALUES (p_slug, p_op, p_plane_id, p_project, p_patch, p_base, work_plane._calling_user())
  RETURNING id INTO change_id;
  IF p_plane_id IS NOT NULL THEN
    UPDATE work_plane.items SET needs_sync = true WHERE workspace_slug = p_slug AND plane_id = p_plane_id;
  END IF;
  INSERT INTO ops.run_events (source, workspace_slug, action, details)
  VALUES ('plane', p_slug, 'writeback_requested', jsonb_build_object('change_id', change_id, 'op', p_op, 'object', p_plane_id));
  -- The workspace's sync worker writes it (same client, budget and retries as the sync).
  PERFORM work_plane._request_sync(p_slug, false);
  PERFORM work_plane._wake_launcher_at_commit();
  RETURN change_id;
END
$fn$;

CREATE OR REPLACE VIEW work_plane.sync_status AS
SELECT i.workspace_slug,
       i.enabled,
       s.state,
       (s.state = 'running' AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.worker_pid)) AS running,
       s.worker_pid,
       s.phase,
       s.pages_done,
       s.rows_done,
       s.rows_expected,
       CASE WHEN s.rows_expected > 0
            THEN round(100.0 * least(s.rows_done, s.rows_expected) / s.rows_expected, 1) END AS percent_done,
       s.run_started_at,
       s.requested_at,
       s.last_attempt_at,
       s.last_success_at,
       s.last_error,
       s.last_error_at,
       i.auth_mode,
       i.auth_status,
       i.auth_error,
       (SELECT t.expires_at FROM work_plane.tokens_ref t
         WHERE t.workspace_slug = i.workspace_slug
           AND ((i.auth_mode = 'oauth' AND t.kind = 'access_token' AND t.user_id = i.oauth_user_id)
             OR (i.auth_mode = 'bot' AND t.kind = 'bot_token'))) AS token_expires_at,
       s.requests_used,
       s.throttled,
       b.requests_in_window AS budget_used,
       b.request_limit AS budget_limit,
       b.headroom AS rate_limit_headroom,
       coalesce(i.poll_interval, coalesce(nullif(current_setting('plane.poll_interval', true), '')::interval, interval '300 seconds')) AS poll_interval,
       s.last_attempt_at + coalesce(i.poll_interval, coalesce(nullif(current_setting('plane.poll_interval', true), '')::interval, interval '300 seconds')) AS next_sync_due,
       (SELECT count(*) FROM work_plane.projects p
         WHERE p.workspace_slug = i.workspace_slug AND p.gone_at IS NULL AND p.access <> 'readable') AS unreadable_projects,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('id', p.plane_id, 'name', p.name, 'access', p.access,
                                                     'reason', p.access_reason) ORDER BY p.name), '[]')
          FROM work_plane.projects p
         WHERE p.workspace_slug = i.workspace_slug AND p.gone_at IS NULL AND p.access <> 'readable') AS unreadable_project_list,
       (SELECT coalesce(jsonb_object_agg(c.resource, coalesce(c.unavailable_reason, 'unavailable')), '{}')
          FROM work_plane.events_cursor c
         WHERE c.workspace_slug = i.workspace_slug AND NOT c.available) AS unavailable_resources,
       pr.page_size,
       pr.work_items_route
  FROM work_plane.installations i
  JOIN work_plane.sync_state s USING (workspace_slug)
  LEFT JOIN work_plane.api_profile pr USING (workspace_slug)
  LEFT JOIN work_plane.rate_budgets() b ON b.budget_key = s.budget_key;
COMMENT ON VIEW work_plane.sync_status IS
  'Per workspace: run state, progress of a running sync, last success and last error, the projects the key cannot read and the resources the server refuses (with why), and what was learned of the server (page size, work items route)';

-- Tenancy: grants name existing roles; dropped roles are ignored, never an error; readers see
-- their own grants only.
COMMENT ON TABLE work_plane.workspace_access IS
  'Row-level security of the mirror: members of role_name (plane_connector_reader) read workspace_slug''s rows; a reader sees only its own grants here';
-- A grant names a role that exists (a role dropped later is ignored by the policies, never an
-- error in a reader's query).
CREATE FUNCTION work_plane._check_workspace_access() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role_name) THEN
    RAISE EXCEPTION 'role "%" does not exist', NEW.role_name
      USING ERRCODE = 'undefined_object', HINT = 'Create the role first, then grant it a workspace.';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER workspace_access_role_exists BEFORE INSERT OR UPDATE ON work_plane.workspace_access
  FOR EACH ROW EXECUTE FUNCTION work_plane._check_workspace_access();

DO $plane$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['projects', 'items', 'pages', 'states', 'labels'] LOOP
    EXECUTE format('DROP POLICY tenant_read ON work_plane.%I', t);
    EXECUTE format($p$CREATE POLICY tenant_read ON work_plane.%I FOR SELECT USING (
        pg_catalog.pg_has_role(current_user, 'plane_connector_admin', 'MEMBER')
        OR EXISTS (SELECT 1 FROM work_plane.workspace_access a
                     JOIN pg_catalog.pg_roles r ON r.rolname = a.role_name
                    WHERE a.workspace_slug = %I.workspace_slug
                      AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))$p$, t, t);
  END LOOP;
END
$plane$;
-- Readers see their own grants only (which is all the policies above need).
ALTER TABLE work_plane.workspace_access ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_grants ON work_plane.workspace_access FOR SELECT USING (
  pg_catalog.pg_has_role(current_user, 'plane_connector_admin', 'MEMBER')
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
              WHERE r.rolname = workspace_access.role_name
                AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
CREATE POLICY admin_write ON work_plane.workspace_access FOR ALL
  USING (pg_catalog.pg_has_role(current_user, 'plane_connector_admin', 'MEMBER'))
  WITH CHECK (pg_catalog.pg_has_role(current_user, 'plane_connector_admin', 'MEMBER'));

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA work_plane FROM PUBLIC;
REVOKE ALL ON work_plane.api_profile FROM PUBLIC;
GRANT SELECT ON work_plane.api_profile TO plane_connector_admin;

-------------------------------------------------------------------------------------------------
-- pg_dump: what cannot be fetched again from Plane is dumped with the database. Configuration
-- (installations, Vault key names, access grants), state (cursors, watermarks, sync state,
-- learned server profile, pending OAuth states), pending writeback, the audit log, the queue's
-- unfinished and dead events (another connector's rows whatever their status), and the mirror
-- itself: it could be fetched again, but at Plane's 60 requests a minute a large workspace takes
-- hours, and rows Plane no longer returns (gone_at) would be lost for good.
-------------------------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('work_plane.installations', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.tokens_ref', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.oauth_states', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.workspace_access', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.events_cursor', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.sync_state', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.api_profile', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.pending_changes', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.projects', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.items', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.pages', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.states', '');
SELECT pg_catalog.pg_extension_config_dump('work_plane.labels', '');
SELECT pg_catalog.pg_extension_config_dump('ops.run_events', '');
SELECT pg_catalog.pg_extension_config_dump('ops.event_queue',
  $$WHERE source <> 'plane' OR status IN ('pending', 'processing', 'dead')$$);
-- The identity sequences too (members of the extension, so pg_dump leaves them out unless marked):
-- without their values a restored database hands out ids its restored rows already hold.
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('work_plane.pending_changes', 'id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ops.event_queue', 'id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ops.run_events', 'id')::pg_catalog.regclass, '');

-------------------------------------------------------------------------------------------------
-- DROP EXTENSION leaves what is not ours: an ops table holding another connector's rows, or an ops
-- schema holding other objects, is detached from the extension first (its plane rows deleted).
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane._release_shared_ops() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  t text;
  others boolean;
  seq text;
  ext oid := (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'plane_connector');
BEGIN
  FOREACH t IN ARRAY ARRAY['event_queue', 'run_events'] LOOP
    IF pg_catalog.to_regclass('ops.' || t) IS NULL THEN
      CONTINUE;
    END IF;
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ops.%I WHERE source NOT LIKE %L)', t, 'plane%')
      INTO others;
    IF others THEN
      EXECUTE pg_catalog.format('DELETE FROM ops.%I WHERE source LIKE %L', t, 'plane%');
      EXECUTE pg_catalog.format('ALTER EXTENSION plane_connector DROP TABLE ops.%I', t);
      -- Its identity sequence is a member too: dropping it would take the id column along.
      seq := pg_catalog.pg_get_serial_sequence('ops.' || t, 'id');
      IF seq IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                        AND d.objid = seq::pg_catalog.regclass AND d.refobjid = ext AND d.deptype = 'e') THEN
        EXECUTE pg_catalog.format('ALTER EXTENSION plane_connector DROP SEQUENCE %s', seq);
      END IF;
    END IF;
  END LOOP;
  -- Our ops schema stays when anything that is not ours lives in it (tables, views, functions).
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                AND d.objid = 'ops'::pg_catalog.regnamespace
                AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                AND d.refobjid = ext AND d.deptype = 'e')
     AND (EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                   WHERE c.relnamespace = 'ops'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                                        AND d.refobjid = ext AND d.deptype = 'e'))
          OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                      WHERE p.pronamespace = 'ops'::pg_catalog.regnamespace
                        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
                                           AND d.refobjid = ext AND d.deptype = 'e'))) THEN
    ALTER EXTENSION plane_connector DROP SCHEMA ops;
  END IF;
END
$fn$;

CREATE FUNCTION work_plane._on_drop_extension() RETURNS event_trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'plane_on_drop_extension';
CREATE EVENT TRIGGER plane_connector_drop ON ddl_command_start WHEN TAG IN ('DROP EXTENSION')
  EXECUTE FUNCTION work_plane._on_drop_extension();
REVOKE ALL ON FUNCTION work_plane._release_shared_ops(), work_plane._on_drop_extension() FROM PUBLIC;
