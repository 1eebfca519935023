-- plane_connector 0.2.0: mirror Plane.so workspaces into Postgres.
-- A fresh install runs this script; an installed 0.1.0 is carried here by
-- plane_connector--0.1.0--0.2.0.sql, and test/integration/test_upgrade.py checks that both end in
-- the same catalog.
\echo Use "CREATE EXTENSION plane_connector CASCADE" to load this file. \quit

-- The workers serve the database named by plane.database (set when the library is preloaded).
DO $plane$
DECLARE
  served text := pg_catalog.current_setting('plane.database', true);
BEGIN
  IF served IS NULL THEN
    RAISE WARNING 'plane_connector is not in shared_preload_libraries: no background worker will sync or apply webhooks in this database'
      USING HINT = 'Add it to shared_preload_libraries and set plane.database, or drain the queue with work_plane.process_events() from pg_cron.';
  ELSIF served <> pg_catalog.current_database() THEN
    RAISE WARNING 'plane.database is "%": the plane_connector workers serve that database, not "%"', served, pg_catalog.current_database()
      USING HINT = 'Create the extension in the database named by plane.database, or change plane.database and restart Postgres.';
  END IF;
END
$plane$;

-------------------------------------------------------------------------------------------------
-- Schemas. ops is shared by all connectors: created here only when absent. Its tables
-- ops.event_queue and ops.run_events are created when absent, or taken over when they are there
-- already with the expected columns (left by a DROP EXTENSION that kept other sources' rows, see
-- work_plane._on_drop_extension). An ops schema created elsewhere is not ours and DROP EXTENSION
-- leaves it alone.
-------------------------------------------------------------------------------------------------
DO $plane$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'ops') THEN
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
  mcp_url          text CONSTRAINT mcp_url_is_http CHECK (mcp_url ~ '^https?://[^[:space:]/?#@]+(/[^[:space:]?#]*)?$'),
  -- OAuth (set by oauth_callback): whose token the workers use, the app installation bot tokens are
  -- requested for, and whether Plane still accepts the refresh token.
  oauth_user_id       text CHECK (oauth_user_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  app_installation_id text CHECK (app_installation_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  oauth_scopes        text,
  auth_status      text NOT NULL DEFAULT 'ok' CHECK (auth_status IN ('ok', 'reauthorization_required')),
  auth_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  -- The database itself refuses writeback without a documented conflict policy.
  CONSTRAINT writeback_needs_conflict_policy
    CHECK (writeback_policy <> 'enabled' OR conflict_policy IS NOT NULL)
);
COMMENT ON TABLE work_plane.installations IS 'One row per mirrored Plane workspace (tenant key: workspace_slug)';
COMMENT ON COLUMN work_plane.installations.api_url IS 'Plane API base URL without /api/v1; NULL uses plane.api_url';
COMMENT ON COLUMN work_plane.installations.poll_interval IS 'Time between syncs; NULL uses plane.poll_interval';
COMMENT ON COLUMN work_plane.installations.mcp_url IS 'Plane MCP endpoint; NULL uses plane.mcp_url (Plane''s hosted API-key endpoint)';
COMMENT ON COLUMN work_plane.installations.auth_mode IS
  'api_key: X-API-Key from Vault; oauth: a user''s OAuth token (refreshed by the workers); bot: an app installation''s bot token (re-requested when it lapses)';
COMMENT ON COLUMN work_plane.installations.auth_status IS
  'reauthorization_required once Plane refused the refresh (or bot) grant: run oauth_authorize_url again';
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

-- OAuth `state` values handed out by oauth_authorize_url: only their SHA-256 is kept. Single use
-- (used_at), bound to one workspace and redirect URI, expiring (plane.oauth_state_ttl).
CREATE TABLE work_plane.oauth_states (
  state_sha256   text PRIMARY KEY CHECK (state_sha256 ~ '^[0-9a-f]{64}$'),
  workspace_slug text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  redirect_uri   text NOT NULL,
  scopes         text NOT NULL,
  issued_to      name NOT NULL DEFAULT session_user,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz
);
COMMENT ON TABLE work_plane.oauth_states IS
  'CSRF state of pending OAuth authorisations (SHA-256 only); single use, expiring';

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
  is_member        boolean,  -- per the key's user: false for a public project it never joined
  timezone         text,     -- the project's zone (cycle dates are calendar days there)
  access           text NOT NULL DEFAULT 'readable' CHECK (access IN ('readable', 'not_member', 'forbidden')),
  access_reason    text,
  access_checked_at timestamptz,
  change_source    text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
  PRIMARY KEY (workspace_slug, plane_id)
);
COMMENT ON COLUMN work_plane.projects.access IS
  'Whether the key can read the project''s lists: not_member (listed as public, the key''s user never joined: not asked), forbidden (its lists answered 403); both re-checked by sync_now(full => true). Rows under such a project are kept as they were.';

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
  needs_sync       boolean NOT NULL DEFAULT false,  -- a local change waits to be written to Plane
  synced_at        timestamptz NOT NULL DEFAULT now(),
  raw              jsonb NOT NULL,
  change_source    text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
  description_text text,      -- the description as plain text (work items)
  cycle_plane_id   text,      -- the cycle a work item is in
  module_ids       text[] NOT NULL DEFAULT '{}',  -- the modules a work item is in
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
  change_source    text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
  content_text     text,      -- the page's content as plain text
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
  change_source    text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
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
  change_source    text CHECK (change_source IN ('sync', 'refresh', 'webhook', 'writeback')),
  PRIMARY KEY (workspace_slug, plane_id)
);

-- Sync state per workspace and resource: where an interrupted scan resumes, watermarks.
CREATE TABLE work_plane.events_cursor (
  workspace_slug text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  resource       text NOT NULL,
  watermark      timestamptz,
  cursor         text,
  last_full_sync timestamptz,
  available      boolean NOT NULL DEFAULT true,  -- false: the server lacks or refuses this API
  updated_at     timestamptz NOT NULL DEFAULT now(),
  unavailable_reason text,     -- why not ("HTTP 403: …")
  checked_at     timestamptz,  -- when the server last answered for it
  PRIMARY KEY (workspace_slug, resource)
);

-- What the workers learned about an installation's server, once: the work items route
-- (Community Edition before v1.1.0 has only issues/) and the largest page it serves.
CREATE TABLE work_plane.api_profile (
  workspace_slug   text PRIMARY KEY REFERENCES work_plane.installations ON DELETE CASCADE,
  work_items_route text CHECK (work_items_route IN ('work-items', 'issues')),
  page_size        int CHECK (page_size BETWEEN 1 AND 1000),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Run state per workspace, written by the workers (requests by sync_now).
CREATE TABLE work_plane.sync_state (
  workspace_slug  text PRIMARY KEY REFERENCES work_plane.installations ON DELETE CASCADE,
  state           text NOT NULL DEFAULT 'idle'
                  CHECK (state IN ('idle', 'queued', 'running', 'failed', 'interrupted', 'cancelled')),
  requested_at    timestamptz,
  full_requested  boolean NOT NULL DEFAULT false,
  cancel_requested boolean NOT NULL DEFAULT false,
  budget_key      text,  -- first hex digits of the digest naming this key's shared request budget
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
DO $plane$
DECLARE
  t text;
  expected text[];
  missing text[];
BEGIN
  FOREACH t IN ARRAY ARRAY['event_queue', 'run_events'] LOOP
    IF pg_catalog.to_regclass('ops.' || t) IS NULL THEN
      CONTINUE;
    END IF;
    expected := CASE t
      WHEN 'event_queue' THEN ARRAY['id', 'source', 'idempotency_key', 'workspace_slug', 'event_type', 'delivery_id',
                                    'payload', 'status', 'attempts', 'next_attempt_at', 'leased_until', 'last_error',
                                    'created_at', 'processed_at']
      ELSE ARRAY['id', 'source', 'workspace_slug', 'action', 'plane_response_status', 'details', 'created_at'] END;
    SELECT pg_catalog.array_agg(c) INTO missing FROM pg_catalog.unnest(expected) AS c
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = pg_catalog.to_regclass('ops.' || t) AND a.attname = c AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'plane_connector: ops.% exists without the columns %', t, missing
        USING HINT = 'Another connector created it with another shape; rename it before CREATE EXTENSION plane_connector.';
    END IF;
    -- Taken over, with its identity sequence: the rows of other sources stay as they are.
    EXECUTE pg_catalog.format('ALTER EXTENSION plane_connector ADD TABLE ops.%I', t);
    IF pg_catalog.pg_get_serial_sequence('ops.' || t, 'id') IS NOT NULL THEN
      EXECUTE pg_catalog.format('ALTER EXTENSION plane_connector ADD SEQUENCE %s',
                                pg_catalog.pg_get_serial_sequence('ops.' || t, 'id'));
    END IF;
  END LOOP;
END
$plane$;

CREATE TABLE IF NOT EXISTS ops.event_queue (
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
-- Claims scan ready rows in id order; a partial index keeps applied history out of the way.
CREATE INDEX IF NOT EXISTS event_queue_ready_idx ON ops.event_queue (id) WHERE status IN ('pending', 'processing');
CREATE INDEX IF NOT EXISTS event_queue_dead_idx ON ops.event_queue (id) WHERE status = 'dead';
COMMENT ON TABLE ops.event_queue IS
  'Inbound events of every connector; plane_connector writes source = ''plane'' rows through work_plane.ingest_webhook';

CREATE TABLE IF NOT EXISTS ops.run_events (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source                text NOT NULL,
  workspace_slug        text,
  action                text NOT NULL,
  plane_response_status int,
  details               jsonb NOT NULL DEFAULT '{}',
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS run_events_workspace_idx ON ops.run_events (workspace_slug, created_at);

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
CREATE FUNCTION work_plane.add_installation(
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
COMMENT ON FUNCTION work_plane.add_installation(text, uuid, text, interval, text) IS
  'Registers (or updates) a Plane workspace to mirror; API-key auth by default, key read from Vault';

CREATE FUNCTION work_plane.remove_installation(workspace_slug text) RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
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
COMMENT ON FUNCTION work_plane.sync_now(text, boolean) IS
  'Asks the workers to sync a workspace now and returns at once (true when a launcher will pick it up); full => true rescans from the first page';

CREATE FUNCTION work_plane.set_writeback_policy(workspace_slug text, policy text, conflict_policy text DEFAULT NULL)
RETURNS work_plane.installations
LANGUAGE plpgsql
SECURITY DEFINER
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

CREATE FUNCTION work_plane.rate_budgets(
  OUT budget_key text, OUT requests_in_window int, OUT request_limit int, OUT window_seconds int,
  OUT headroom int,
  OUT requests_total bigint, OUT throttled_total bigint, OUT blocked_for_ms bigint,
  OUT last_remaining int)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_rate_budgets';
COMMENT ON FUNCTION work_plane.rate_budgets() IS
  'Per API key (named by a digest, never the key): requests in the current window, headroom, 429s';

CREATE FUNCTION work_plane.cancel_sync(workspace_slug text) RETURNS boolean
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
COMMENT ON FUNCTION work_plane.cancel_sync(text) IS
  'Withdraws a pending sync request and interrupts a running sync (true when one was signalled)';

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

CREATE FUNCTION work_plane.ingest_webhook(workspace_slug text, headers jsonb, body text) RETURNS int
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'plane_ingest_webhook';
COMMENT ON FUNCTION work_plane.ingest_webhook(text, jsonb, text) IS
  'Accepts one Plane webhook delivery and returns the HTTP status to answer: 200 (enqueued, or a duplicate), 400 malformed, 401 bad or missing signature, 404 unknown workspace, 413 too large, 503 no webhook secret in Vault';

CREATE FUNCTION work_plane.process_events(max_events int DEFAULT 1000) RETURNS int
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'plane_process_events';
COMMENT ON FUNCTION work_plane.process_events(int) IS
  'Applies up to max_events queued Plane events in this transaction (what the queue worker does); returns how many were applied';

CREATE FUNCTION work_plane.webhook_counters(
  OUT workspace_slug text, OUT accepted bigint, OUT duplicates bigint, OUT unauthorized bigint,
  OUT malformed bigint, OUT too_large bigint, OUT applied bigint)
RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_webhook_counters';
COMMENT ON FUNCTION work_plane.webhook_counters() IS
  'Webhook deliveries per workspace since the server started (shared memory): accepted, duplicates, rejected by reason, applied';

CREATE FUNCTION work_plane._wake_queue_at_commit() RETURNS boolean
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_wake_queue_at_commit';
CREATE FUNCTION work_plane.queue_worker_pid() RETURNS int
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'plane_queue_worker_pid';

CREATE FUNCTION work_plane.retry_dead_events(event_ids bigint[] DEFAULT NULL) RETURNS int
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  n int;
BEGIN
  UPDATE ops.event_queue q
     SET status = 'pending', attempts = 0, next_attempt_at = now(), leased_until = NULL
   WHERE q.source = 'plane' AND q.status = 'dead' AND (event_ids IS NULL OR q.id = ANY (event_ids));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM work_plane._wake_queue_at_commit();
  END IF;
  INSERT INTO ops.run_events (source, workspace_slug, action, details)
  VALUES ('plane', NULL, 'dead_events_retried', jsonb_build_object('count', n));
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION work_plane.retry_dead_events(bigint[]) IS
  'Puts dead-lettered Plane events (all, or those listed) back in the queue with fresh attempts';

CREATE VIEW work_plane.queue_status AS
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       count(*) FILTER (WHERE status = 'ignored') AS ignored,
       count(*) FILTER (WHERE status = 'done') AS applied,
       now() - min(created_at) FILTER (WHERE status IN ('pending', 'processing')) AS oldest_pending_age,
       count(*) FILTER (WHERE status = 'done' AND processed_at > now() - interval '1 minute') AS applied_last_minute,
       (SELECT coalesce(sum(c.unauthorized + c.malformed + c.too_large), 0)
          FROM work_plane.webhook_counters() c) AS rejected_since_start,
       work_plane.queue_worker_pid() AS worker_pid
  FROM ops.event_queue
 WHERE source = 'plane';
COMMENT ON VIEW work_plane.queue_status IS
  'Plane webhook queue: depth, oldest pending age, dead letters, rejected deliveries, apply rate';

CREATE VIEW work_plane.work_items WITH (security_invoker = true) AS
SELECT i.workspace_slug, i.plane_id, p.identifier || '-' || i.sequence_id AS key, i.name,
       i.project_plane_id, p.name AS project_name, i.sequence_id,
       i.state_plane_id, st.name AS state_name, st."group" AS state_group, i.priority,
       i.label_ids,
       ARRAY(SELECT l.name FROM unnest(i.label_ids) WITH ORDINALITY AS u(id, n)
               JOIN work_plane.labels l ON l.workspace_slug = i.workspace_slug AND l.plane_id = u.id
              ORDER BY u.n) AS label_names,
       i.assignee_ids, i.parent_plane_id, i.start_date, i.target_date, i.completed_at,
       i.archived_at, i.plane_created_at, i.plane_updated_at, i.gone_at, i.synced_at
  FROM work_plane.items i
  LEFT JOIN work_plane.projects p ON p.workspace_slug = i.workspace_slug AND p.plane_id = i.project_plane_id
  LEFT JOIN work_plane.states st ON st.workspace_slug = i.workspace_slug AND st.plane_id = i.state_plane_id
 WHERE i.item_type = 'issue';
COMMENT ON VIEW work_plane.work_items IS 'Work items with their key (PROJ-12), state and label names';

-------------------------------------------------------------------------------------------------
-- Writeback: local changes to work items, written to Plane by the workspace's sync worker when
-- the installation's writeback_policy is 'enabled', with optimistic locking on Plane's updated_at.
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.pending_changes (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_slug        text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  op                    text NOT NULL CHECK (op IN ('update', 'create')),
  plane_id              text,  -- the work item (set for a create once Plane made it)
  project_plane_id      text NOT NULL,
  patch                 jsonb NOT NULL CHECK (jsonb_typeof(patch) = 'object'),
  base_updated_at       timestamptz,  -- Plane's updated_at the patch was based on (updates)
  status                text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'applied', 'partial', 'conflict', 'discarded', 'gone', 'failed', 'refused')),
  attempts              int NOT NULL DEFAULT 0,
  plane_updated_at      timestamptz,  -- Plane's version at the conflict, or after applying
  plane_response_status int,
  last_error            text,
  created_by            name NOT NULL DEFAULT current_user,
  created_at            timestamptz NOT NULL DEFAULT now(),
  resolved_at           timestamptz,
  dropped               jsonb  -- partial: the values Plane left out ({"assignees": [...], "labels": [...]})
);
COMMENT ON COLUMN work_plane.pending_changes.created_by IS 'The role that called update_work_item or create_work_item';
CREATE INDEX pending_changes_open_idx ON work_plane.pending_changes (workspace_slug, id) WHERE status = 'pending';
COMMENT ON TABLE work_plane.pending_changes IS
  'Local changes to Plane work items: pending until written; partial when Plane accepted but silently dropped values (non-member assignees, other projects'' labels: see dropped); conflict (kept, keep_local) or discarded (plane_wins) when Plane changed first';

CREATE FUNCTION work_plane._validate_patch(patch jsonb, creating boolean) RETURNS jsonb
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'plane_validate_patch';

CREATE FUNCTION work_plane._record_change(p_slug text, p_op text, p_plane_id text, p_project text,
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

CREATE FUNCTION work_plane.update_work_item(workspace_slug text, plane_id text, patch jsonb) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  item record;
BEGIN
  SELECT i.project_plane_id, i.plane_updated_at INTO item FROM work_plane.items i
   WHERE i.workspace_slug = update_work_item.workspace_slug AND i.plane_id = update_work_item.plane_id
     AND i.item_type = 'issue' AND i.gone_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no mirrored work item % in workspace %', quote_literal(left(update_work_item.plane_id, 60)),
      quote_literal(left(update_work_item.workspace_slug, 60)) USING ERRCODE = 'no_data_found';
  END IF;
  RETURN work_plane._record_change(update_work_item.workspace_slug, 'update', update_work_item.plane_id,
                                   item.project_plane_id, patch, item.plane_updated_at);
END
$fn$;
COMMENT ON FUNCTION work_plane.update_work_item(text, text, jsonb) IS
  'Records a change to a mirrored work item (name, state_plane_id, priority, assignee_ids, label_ids, start_date, target_date, description_html) based on its current Plane version; returns the change id';

CREATE FUNCTION work_plane.create_work_item(workspace_slug text, project_plane_id text, fields jsonb) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM work_plane.projects p WHERE p.workspace_slug = create_work_item.workspace_slug
                  AND p.plane_id = create_work_item.project_plane_id AND p.gone_at IS NULL) THEN
    RAISE EXCEPTION 'no mirrored project % in workspace %', quote_literal(left(create_work_item.project_plane_id, 60)),
      quote_literal(left(create_work_item.workspace_slug, 60)) USING ERRCODE = 'no_data_found';
  END IF;
  RETURN work_plane._record_change(create_work_item.workspace_slug, 'create', NULL,
                                   create_work_item.project_plane_id, fields, NULL);
END
$fn$;
COMMENT ON FUNCTION work_plane.create_work_item(text, text, jsonb) IS
  'Records a new work item to create in Plane (fields as for update_work_item; name required); returns the change id';

-------------------------------------------------------------------------------------------------
-- MCP: agent calls to Plane's MCP server, policy-gated and audited (source 'plane_mcp').
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane.mcp_call(workspace_slug text, tool text, arguments jsonb DEFAULT '{}')
RETURNS jsonb
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'plane_mcp_call';
COMMENT ON FUNCTION work_plane.mcp_call(text, text, jsonb) IS
  'Calls one tool of Plane''s MCP server and returns its result; calls that may change Plane are refused unless writeback is enabled; every call is logged in ops.run_events';
CREATE FUNCTION work_plane.mcp_tools(workspace_slug text) RETURNS jsonb
  LANGUAGE c VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'plane_mcp_tools';
COMMENT ON FUNCTION work_plane.mcp_tools(text) IS
  'The MCP server''s tools, each with "mutating" as the policy gate judges it';

-------------------------------------------------------------------------------------------------
-- OAuth2 for Plane apps. Client id and secret come from Vault (plane_oauth_client_id,
-- plane_oauth_client_secret); tokens go to Vault; tokens_ref keeps only their names and expiry.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane.oauth_authorize_url(
    workspace_slug text, redirect_uri text,
    scopes text DEFAULT 'projects:read projects.work_items:read projects.cycles:read projects.modules:read projects.pages:read wiki.pages:read projects.states:read projects.labels:read')
  RETURNS text
  LANGUAGE c VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'plane_oauth_authorize_url';
COMMENT ON FUNCTION work_plane.oauth_authorize_url(text, text, text) IS
  'Plane''s authorize-app URL for an installed workspace, with a random single-use state that expires after plane.oauth_state_ttl';

CREATE FUNCTION work_plane.oauth_callback(code text, state text, app_installation_id text DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'plane_oauth_callback';
COMMENT ON FUNCTION work_plane.oauth_callback(text, text, text) IS
  'Completes an authorisation: checks and spends the state, exchanges the code, stores the tokens in Vault (a bot token too when app_installation_id is given) and switches the installation to them. Call it in its own transaction.';

-------------------------------------------------------------------------------------------------
-- Tenancy: which roles may read which workspaces' mirror rows (row-level security below).
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.workspace_access (
  role_name      name NOT NULL,
  workspace_slug text NOT NULL REFERENCES work_plane.installations ON DELETE CASCADE,
  PRIMARY KEY (role_name, workspace_slug)
);
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

-------------------------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC. Three roles (cluster-wide, NOLOGIN, created once and kept by
-- DROP EXTENSION as roles outlive databases):
--   plane_connector_reader  reads the mirror, only the workspaces workspace_access gives it (RLS);
--   plane_connector_admin   administers installations (SECURITY DEFINER functions), reads status,
--                           audit and queue, and every workspace's mirror rows;
--   plane_connector_ingest  may only call work_plane.ingest_webhook (a webhook transport's role).
-- Reading credentials is granted to no one: only the workers (bootstrap superuser) and Vault's
-- owner read vault.decrypted_secrets.
-------------------------------------------------------------------------------------------------
-------------------------------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA work_plane FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA work_plane FROM PUBLIC;

DO $plane$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plane_connector_reader') THEN
    CREATE ROLE plane_connector_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plane_connector_admin') THEN
    CREATE ROLE plane_connector_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plane_connector_ingest') THEN
    CREATE ROLE plane_connector_ingest NOLOGIN;
  END IF;
END
$plane$;

GRANT USAGE ON SCHEMA work_plane TO plane_connector_reader, plane_connector_admin, plane_connector_ingest;
GRANT SELECT ON work_plane.projects, work_plane.items, work_plane.pages, work_plane.states,
                work_plane.labels, work_plane.work_items, work_plane.workspace_access
  TO plane_connector_reader, plane_connector_admin;
GRANT SELECT ON work_plane.installations, work_plane.tokens_ref, work_plane.events_cursor,
                work_plane.sync_state, work_plane.sync_status, work_plane.queue_status,
                work_plane.pending_changes, work_plane.api_profile
  TO plane_connector_admin;
GRANT INSERT, DELETE ON work_plane.workspace_access TO plane_connector_admin;
GRANT USAGE ON SCHEMA ops TO plane_connector_admin;
GRANT SELECT ON ops.run_events, ops.event_queue TO plane_connector_admin;
GRANT EXECUTE ON FUNCTION
  work_plane.add_installation(text, uuid, text, interval, text),
  work_plane.remove_installation(text),
  work_plane.sync_now(text, boolean),
  work_plane.cancel_sync(text),
  work_plane.set_writeback_policy(text, text, text),
  work_plane.process_events(int),
  work_plane.retry_dead_events(bigint[]),
  work_plane.rate_budgets(),
  work_plane.webhook_counters(),
  work_plane.launcher_pid(),
  work_plane.queue_worker_pid(),
  work_plane.update_work_item(text, text, jsonb),
  work_plane.create_work_item(text, text, jsonb),
  work_plane.mcp_call(text, text, jsonb),
  work_plane.mcp_tools(text),
  work_plane.oauth_authorize_url(text, text, text),
  work_plane.oauth_callback(text, text, text)
  TO plane_connector_admin;
GRANT EXECUTE ON FUNCTION work_plane.ingest_webhook(text, jsonb, text) TO plane_connector_ingest;

-- Row-level security: a reader sees the rows of the workspaces workspace_access grants to a role it
-- is a member of; an admin sees every row. (The workers and SECURITY DEFINER functions run as the
-- owner, which RLS does not restrict.) A Supabase project can add a policy for `authenticated`
-- keyed on a JWT claim instead; see the README, "Access and tenancy".
DO $plane$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['projects', 'items', 'pages', 'states', 'labels'] LOOP
    EXECUTE format('ALTER TABLE work_plane.%I ENABLE ROW LEVEL SECURITY', t);
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
