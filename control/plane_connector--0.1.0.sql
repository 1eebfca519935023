-- plane_connector 0.1.0: mirror Plane.so workspaces into Postgres.
\echo Use "CREATE EXTENSION plane_connector" to load this file. \quit

-------------------------------------------------------------------------------------------------
-- Schemas. ops is shared by all connectors: created here only when absent, so that DROP EXTENSION
-- removes it only if it was ours and leaves a pre-existing one (and its other tables) alone.
-------------------------------------------------------------------------------------------------
DO $plane$
BEGIN
  IF to_regclass('ops.event_queue') IS NOT NULL OR to_regclass('ops.run_events') IS NOT NULL THEN
    RAISE EXCEPTION 'plane_connector: ops.event_queue or ops.run_events already exists'
      USING HINT = 'Another connector owns them; drop or rename them before CREATE EXTENSION plane_connector.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ops') THEN
    CREATE SCHEMA ops;
  END IF;
END
$plane$;

CREATE SCHEMA work_plane;
COMMENT ON SCHEMA work_plane IS 'plane_connector: mirror of Plane.so workspaces, and its controls';

-------------------------------------------------------------------------------------------------
-- Installations: one row per Plane workspace.
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.installations (
  workspace_slug   text PRIMARY KEY
                   CONSTRAINT workspace_slug_syntax CHECK (workspace_slug ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$'),
  space_id         uuid,
  api_url          text CONSTRAINT api_url_is_http CHECK (api_url ~ '^https?://[^[:space:]/?#@]+(/[^[:space:]?#]*)?$'),
  auth_mode        text NOT NULL DEFAULT 'api_key' CHECK (auth_mode IN ('api_key', 'oauth', 'bot')),
  writeback_policy text NOT NULL DEFAULT 'disabled' CHECK (writeback_policy IN ('disabled', 'enabled')),
  conflict_policy  text CHECK (conflict_policy IN ('plane_wins', 'keep_local')),
  enabled          boolean NOT NULL DEFAULT true,
  poll_interval    interval CHECK (poll_interval >= interval '10 seconds'),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  -- The database itself refuses writeback without a documented conflict policy.
  CONSTRAINT writeback_needs_conflict_policy
    CHECK (writeback_policy <> 'enabled' OR conflict_policy IS NOT NULL)
);
COMMENT ON TABLE work_plane.installations IS 'One row per mirrored Plane workspace (tenant key: workspace_slug)';
COMMENT ON COLUMN work_plane.installations.api_url IS 'Plane API base URL without /api/v1; NULL uses plane.api_url';
COMMENT ON COLUMN work_plane.installations.poll_interval IS 'Time between syncs; NULL uses plane.poll_interval';
COMMENT ON COLUMN work_plane.installations.conflict_policy IS
  'plane_wins: a conflicting local patch is dropped and the mirror refreshed from Plane; keep_local: it is kept, marked conflicted, for a person to resolve. Plane is never overwritten in either case.';

-- Vault key NAMES per workspace and user; never a token (the check refuses anything but a name).
CREATE TABLE work_plane.tokens_ref (
  workspace_slug    text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  user_id           text NOT NULL DEFAULT '',
  kind              text NOT NULL CHECK (kind IN ('api_key', 'access_token', 'refresh_token', 'bot_token', 'webhook_secret')),
  vault_secret_name text NOT NULL CHECK (vault_secret_name ~ '^plane_[a-z_]+(:[A-Za-z0-9_:-]+)?$'),
  expires_at        timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_slug, user_id, kind)
);

-------------------------------------------------------------------------------------------------
-- The mirror. Every table: workspace_slug, plane_id (unique per workspace), synced_at, raw (the
-- full Plane object), typed columns, and gone_at (Plane no longer returns the row: deleted or
-- archived, which Plane's v1 API cannot tell apart).
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.projects (
  workspace_slug   text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  plane_id         text NOT NULL,
  name             text,
  identifier       text,
  description_text text,
  network          int,
  archived_at      timestamptz,
  plane_created_at timestamptz,
  plane_updated_at timestamptz,
  gone_at          timestamptz,
  synced_at        timestamptz NOT NULL DEFAULT now(),
  raw              jsonb NOT NULL,
  PRIMARY KEY (workspace_slug, plane_id)
);

CREATE TABLE work_plane.items (
  workspace_slug   text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  plane_id         text NOT NULL,
  item_type        text NOT NULL CHECK (item_type IN ('issue', 'cycle', 'module')),
  project_plane_id text,
  name             text,
  sequence_id      int,
  state_plane_id   text,
  priority         text,
  parent_plane_id  text,
  assignee_ids     text[] NOT NULL DEFAULT '{}',
  label_ids        text[] NOT NULL DEFAULT '{}',
  status           text,  -- modules: backlog, planned, in-progress, paused, completed, cancelled
  start_date       date,
  target_date      date,
  starts_at        timestamptz,  -- cycles: Plane's start_date/end_date are datetimes
  ends_at          timestamptz,
  completed_at     timestamptz,
  archived_at      timestamptz,
  plane_created_at timestamptz,
  plane_updated_at timestamptz,
  gone_at          timestamptz,
  synced_at        timestamptz NOT NULL DEFAULT now(),
  raw              jsonb NOT NULL,
  PRIMARY KEY (workspace_slug, plane_id)
);
CREATE INDEX items_project_idx ON work_plane.items (workspace_slug, project_plane_id, item_type);
CREATE INDEX items_updated_idx ON work_plane.items (workspace_slug, plane_updated_at);
COMMENT ON TABLE work_plane.items IS 'Plane work items (issues), cycles and modules, by item_type';

CREATE TABLE work_plane.pages (
  workspace_slug   text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  plane_id         text NOT NULL,
  project_plane_id text,  -- NULL: a workspace (wiki) page
  name             text,
  access           int,
  is_locked        boolean,
  owned_by         text,
  parent_plane_id  text,
  archived_at      timestamptz,
  plane_created_at timestamptz,
  plane_updated_at timestamptz,
  gone_at          timestamptz,
  synced_at        timestamptz NOT NULL DEFAULT now(),
  raw              jsonb NOT NULL,
  PRIMARY KEY (workspace_slug, plane_id)
);
COMMENT ON TABLE work_plane.pages IS 'Plane pages (Plane Cloud only; self-hosted Plane has no pages API)';

CREATE TABLE work_plane.states (
  workspace_slug   text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  plane_id         text NOT NULL,
  project_plane_id text,
  name             text,
  "group"          text,  -- backlog, unstarted, started, completed, cancelled (triage is hidden by Plane)
  color            text,
  sequence         double precision,
  is_default       boolean,
  plane_created_at timestamptz,
  plane_updated_at timestamptz,
  gone_at          timestamptz,
  synced_at        timestamptz NOT NULL DEFAULT now(),
  raw              jsonb NOT NULL,
  PRIMARY KEY (workspace_slug, plane_id)
);

CREATE TABLE work_plane.labels (
  workspace_slug   text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  plane_id         text NOT NULL,
  project_plane_id text,
  name             text,
  color            text,
  parent_plane_id  text,
  plane_created_at timestamptz,
  plane_updated_at timestamptz,
  gone_at          timestamptz,
  synced_at        timestamptz NOT NULL DEFAULT now(),
  raw              jsonb NOT NULL,
  PRIMARY KEY (workspace_slug, plane_id)
);

-- Sync state per workspace and resource: where an interrupted scan resumes, watermarks.
CREATE TABLE work_plane.events_cursor (
  workspace_slug text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  resource       text NOT NULL,
  watermark      timestamptz,
  cursor         text,
  last_full_sync timestamptz,
  available      boolean NOT NULL DEFAULT true,  -- false: the server has no such API (pages on self-hosted Plane)
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_slug, resource)
);

-- Run state per workspace, written by the workers (requests by sync_now).
CREATE TABLE work_plane.sync_state (
  workspace_slug  text PRIMARY KEY REFERENCES work_plane.installations ON DELETE CASCADE,
  state           text NOT NULL DEFAULT 'idle'
                  CHECK (state IN ('idle', 'queued', 'running', 'failed', 'interrupted')),
  requested_at    timestamptz,
  full_requested  boolean NOT NULL DEFAULT false,
  phase           text,
  worker_pid      int,
  run_started_at  timestamptz,
  pages_done      bigint NOT NULL DEFAULT 0,
  rows_done       bigint NOT NULL DEFAULT 0,
  rows_expected   bigint,
  requests_used   bigint,
  throttled       bigint,
  last_attempt_at timestamptz,
  last_success_at timestamptz,
  last_error      text,
  last_error_at   timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-------------------------------------------------------------------------------------------------
-- Shared ops tables.
-------------------------------------------------------------------------------------------------
CREATE TABLE ops.event_queue (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source          text NOT NULL,
  idempotency_key text NOT NULL UNIQUE,
  workspace_slug  text,
  event_type      text,
  delivery_id     text,
  payload         jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'done', 'dead', 'ignored')),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  leased_until    timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  processed_at    timestamptz
);
CREATE INDEX event_queue_ready_idx ON ops.event_queue (next_attempt_at) WHERE status IN ('pending', 'processing');

CREATE TABLE ops.run_events (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source                text NOT NULL,
  workspace_slug        text,
  action                text NOT NULL,
  plane_response_status int,
  details               jsonb NOT NULL DEFAULT '{}',
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_events_workspace_idx ON ops.run_events (workspace_slug, created_at);

-------------------------------------------------------------------------------------------------
-- Functions implemented in C++ (behind the exception boundary, src/pg/boundary.hpp).
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane._wake_launcher_at_commit() RETURNS boolean
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'plane_wake_launcher_at_commit';
CREATE FUNCTION work_plane.launcher_pid() RETURNS int
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_launcher_pid';
COMMENT ON FUNCTION work_plane.launcher_pid() IS 'pid of the sync launcher worker, NULL when none runs (library not preloaded)';
CREATE FUNCTION work_plane._boundary_test(mode text) RETURNS int
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'plane_boundary_test';
COMMENT ON FUNCTION work_plane._boundary_test(text) IS 'Test hook for the C++/Postgres exception boundary';

-------------------------------------------------------------------------------------------------
-- The SQL surface.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane.add_installation(
  workspace_slug text,
  space_id uuid DEFAULT NULL,
  api_url text DEFAULT NULL,
  poll_interval interval DEFAULT NULL
) RETURNS work_plane.installations
LANGUAGE plpgsql
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
  INSERT INTO work_plane.installations AS i (workspace_slug, space_id, api_url, poll_interval)
  VALUES (add_installation.workspace_slug, add_installation.space_id,
          rtrim(add_installation.api_url, '/'), add_installation.poll_interval)
  ON CONFLICT ON CONSTRAINT installations_pkey DO UPDATE
    SET space_id = coalesce(excluded.space_id, i.space_id),
        api_url = coalesce(excluded.api_url, i.api_url),
        poll_interval = coalesce(excluded.poll_interval, i.poll_interval),
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
COMMENT ON FUNCTION work_plane.add_installation(text, uuid, text, interval) IS
  'Registers (or updates) a Plane workspace to mirror; API-key auth by default, key read from Vault';

CREATE FUNCTION work_plane.remove_installation(workspace_slug text) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  DELETE FROM work_plane.installations i WHERE i.workspace_slug = remove_installation.workspace_slug;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO ops.run_events (source, workspace_slug, action)
  VALUES ('plane', remove_installation.workspace_slug, 'installation_removed');
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION work_plane.remove_installation(text) IS 'Unregisters a workspace and deletes its mirror rows';

CREATE FUNCTION work_plane.sync_now(workspace_slug text, "full" boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  is_enabled boolean;
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
  -- Requests coalesce: a request made while one is pending or running just keeps the flag set.
  UPDATE work_plane.sync_state s
     SET requested_at = coalesce(s.requested_at, now()),
         full_requested = s.full_requested OR coalesce(sync_now."full", false),
         state = CASE WHEN s.state IN ('running', 'queued') THEN s.state ELSE 'queued' END,
         updated_at = now()
   WHERE s.workspace_slug = sync_now.workspace_slug;
  IF NOT work_plane._wake_launcher_at_commit() THEN
    RAISE WARNING 'no plane_connector launcher is running: the sync will start when one does'
      USING HINT = 'Add plane_connector to shared_preload_libraries (and set plane.database to this database), then restart Postgres.';
    RETURN false;
  END IF;
  RETURN true;
END
$fn$;
COMMENT ON FUNCTION work_plane.sync_now(text, boolean) IS
  'Asks the workers to sync a workspace now and returns at once (true when a launcher will pick it up); full => true rescans from the first page';

CREATE FUNCTION work_plane.set_writeback_policy(workspace_slug text, policy text, conflict_policy text DEFAULT NULL)
RETURNS work_plane.installations
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  result work_plane.installations;
BEGIN
  IF policy IS NULL OR policy NOT IN ('disabled', 'enabled') THEN
    RAISE EXCEPTION 'writeback policy must be ''disabled'' or ''enabled'''
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF conflict_policy IS NOT NULL AND conflict_policy NOT IN ('plane_wins', 'keep_local') THEN
    RAISE EXCEPTION 'conflict policy must be ''plane_wins'' or ''keep_local'''
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF policy = 'enabled' AND set_writeback_policy.conflict_policy IS NULL AND NOT EXISTS (
       SELECT 1 FROM work_plane.installations i
        WHERE i.workspace_slug = set_writeback_policy.workspace_slug AND i.conflict_policy IS NOT NULL) THEN
    -- Checked here for a clear message; the table's CHECK constraint enforces it on every path.
    RAISE EXCEPTION 'writeback cannot be enabled without a conflict policy'
      USING ERRCODE = 'check_violation',
            HINT = 'Pass conflict_policy => ''plane_wins'' or ''keep_local'' (see the README, "Writeback").';
  END IF;
  UPDATE work_plane.installations i
     SET writeback_policy = policy,
         conflict_policy = coalesce(set_writeback_policy.conflict_policy, i.conflict_policy),
         updated_at = now()
   WHERE i.workspace_slug = set_writeback_policy.workspace_slug
  RETURNING * INTO result;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown Plane workspace: %', quote_literal(left(set_writeback_policy.workspace_slug, 60))
      USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO ops.run_events (source, workspace_slug, action, details)
  VALUES ('plane', set_writeback_policy.workspace_slug, 'writeback_policy_set',
          jsonb_build_object('policy', result.writeback_policy, 'conflict_policy', result.conflict_policy));
  RETURN result;
END
$fn$;

CREATE VIEW work_plane.sync_status AS
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
       s.requests_used,
       s.throttled,
       coalesce(i.poll_interval, coalesce(nullif(current_setting('plane.poll_interval', true), '')::interval, interval '300 seconds')) AS poll_interval,
       s.last_attempt_at + coalesce(i.poll_interval, coalesce(nullif(current_setting('plane.poll_interval', true), '')::interval, interval '300 seconds')) AS next_sync_due
  FROM work_plane.installations i
  JOIN work_plane.sync_state s USING (workspace_slug);
COMMENT ON VIEW work_plane.sync_status IS 'Per workspace: run state, progress of a running sync, last success and last error';

-------------------------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC.
-------------------------------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA work_plane FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA work_plane FROM PUBLIC;
