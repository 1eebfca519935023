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
-- Search, content chunks for RAG, change history and analytics views. Everything derived from the
-- mirror (search documents, chunks, history) is written by statement-level AFTER triggers with
-- transition tables on work_plane.items and work_plane.pages: in the same transaction as the
-- upsert that changed the mirror, one statement per derived table per upsert. pg_trgm and unaccent
-- (required by the control file) are looked up wherever they are installed, never assumed.
-------------------------------------------------------------------------------------------------
-------------------------------------------------------------------------------------------------
-- C functions (src/pg/content_functions.cpp, search_parser.cpp, search_config.cpp). The library
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane.html_to_text(html text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'plane_html_to_text';
COMMENT ON FUNCTION work_plane.html_to_text(text) IS
  'Plain text of Plane HTML (libxml2''s HTML parser): one line per block, "- " list items, headings as lines, script/style dropped, entities decoded, white space collapsed';

CREATE FUNCTION work_plane.html_chunks(html text, target_chars int DEFAULT 1000, overlap_chars int DEFAULT 150)
  RETURNS TABLE (chunk_no int, heading_path text[], content text)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4 AS 'MODULE_PATHNAME', 'plane_html_chunks';
COMMENT ON FUNCTION work_plane.html_chunks(text, int, int) IS
  'Plane HTML cut into chunks of at most target_chars characters (overlap included) at paragraph, sentence or word boundaries, one section per chunk, each with the headings in force (h1 > h2 > ...)';

CREATE FUNCTION work_plane._parser_start(internal, int) RETURNS internal
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'plane_parser_start';
CREATE FUNCTION work_plane._parser_gettoken(internal, internal, internal) RETURNS internal
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'plane_parser_gettoken';
CREATE FUNCTION work_plane._parser_end(internal) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'plane_parser_end';

CREATE FUNCTION work_plane._tsvector_head(document tsvector, last_position int) RETURNS tsvector
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'plane_tsvector_head';
COMMENT ON FUNCTION work_plane._tsvector_head(tsvector, int) IS
  'The lexemes of a document with their positions up to last_position (NULL when none lies beyond): what search ranks long documents by';

CREATE FUNCTION work_plane._search_config() RETURNS regconfig
  LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'plane_search_config';
COMMENT ON FUNCTION work_plane._search_config() IS
  'The text search configuration plane.search_config names (work_plane.plane_search, with a WARNING, when it names none)';

-------------------------------------------------------------------------------------------------
-- Text search configuration work_plane.plane_search: the default parser, except that runs of
-- CJK characters become one token per character (so 検索 finds 検索機能, as a phrase), then
-- unaccent and the simple dictionary: accents fold (café = cafe, Größe = grosse), every language
-- tokenises, nothing is stemmed. plane.search_config may name another configuration.
-------------------------------------------------------------------------------------------------
CREATE TEXT SEARCH PARSER work_plane.plane_parser (
  START = work_plane._parser_start,
  GETTOKEN = work_plane._parser_gettoken,
  END = work_plane._parser_end,
  LEXTYPES = pg_catalog.prsd_lextype,
  HEADLINE = pg_catalog.prsd_headline
);
CREATE TEXT SEARCH CONFIGURATION work_plane.plane_search (PARSER = work_plane.plane_parser);
COMMENT ON TEXT SEARCH CONFIGURATION work_plane.plane_search IS
  'plane_connector search: accents folded (unaccent), no stemming, CJK split per character';

DO $plane$
DECLARE
  unaccent_schema name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'unaccent');
  trgm_schema name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                        WHERE e.extname = 'pg_trgm');
BEGIN
  IF unaccent_schema IS NULL OR trgm_schema IS NULL THEN
    RAISE EXCEPTION 'plane_connector needs the extensions pg_trgm and unaccent'
      USING HINT = 'CREATE EXTENSION plane_connector CASCADE installs them (Debian: postgresql-contrib).';
  END IF;
  EXECUTE format('ALTER TEXT SEARCH CONFIGURATION work_plane.plane_search
                    ADD MAPPING FOR asciiword, asciihword, hword_asciipart, int, uint, float, sfloat,
                                    version, email, url, host, url_path, file
                    WITH pg_catalog.simple');
  EXECUTE format('ALTER TEXT SEARCH CONFIGURATION work_plane.plane_search
                    ADD MAPPING FOR word, hword, hword_part, numword, numhword, hword_numpart
                    WITH %I.unaccent, pg_catalog.simple', unaccent_schema);

  -- Query words folded before they are compared with title words for typos: lower case, accents
  -- removed (the two-argument unaccent names its dictionary, so it works under any search_path).
  EXECUTE format($f$CREATE FUNCTION work_plane._fold(t text) RETURNS text
                    LANGUAGE sql STABLE STRICT PARALLEL SAFE
                    AS $b$SELECT pg_catalog.lower(%I.unaccent(%L::regdictionary, t))$b$$f$,
                 unaccent_schema, format('%I.unaccent', unaccent_schema));

  -- Row-level security and indexes. The planner uses an index under a row-level security
  -- policy only for operators whose functions are LEAKPROOF; pg_trgm's and the tsvector @@ are
  -- not marked so, and a reader's search would scan every row. These wrappers call the same C
  -- functions. They are leakproof: they raise no error that depends on the row's value (only
  -- running out of memory or stack, or a cancel), and return nothing but a boolean.
  EXECUTE format($f$CREATE FUNCTION work_plane._trgm_similar(text, text) RETURNS boolean
                    LANGUAGE c STABLE STRICT PARALLEL SAFE LEAKPROOF
                    AS '$libdir/pg_trgm', 'similarity_op'$f$);
  EXECUTE format($f$CREATE FUNCTION work_plane._similarity(text, text) RETURNS real
                    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
                    AS '$libdir/pg_trgm', 'similarity'$f$);
  CREATE OPERATOR work_plane.% (LEFTARG = text, RIGHTARG = text, COMMUTATOR = OPERATOR(work_plane.%),
                                 FUNCTION = work_plane._trgm_similar,
                                 RESTRICT = contsel, JOIN = contjoinsel);
  -- pg_trgm's gin_trgm_ops with the leakproof operator as strategy 1 (similarity).
  EXECUTE format('CREATE OPERATOR CLASS work_plane.trgm_rls_ops FOR TYPE text USING gin AS
                    OPERATOR 1 work_plane.%% (text, text),
                    FUNCTION 1 pg_catalog.btint4cmp(int4, int4),
                    FUNCTION 2 %1$I.gin_extract_value_trgm(text, internal),
                    FUNCTION 3 %1$I.gin_extract_query_trgm(text, internal, int2, internal, internal, internal, internal),
                    FUNCTION 4 %1$I.gin_trgm_consistent(internal, int2, text, int4, internal, internal, internal, internal),
                    FUNCTION 6 %1$I.gin_trgm_triconsistent(internal, int2, text, int4, internal, internal, internal),
                    STORAGE int4', trgm_schema);
END
$plane$;

CREATE FUNCTION work_plane._ts_match(tsvector, tsquery) RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'ts_match_vq';
CREATE OPERATOR work_plane.@@ (LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = work_plane._ts_match,
                               RESTRICT = pg_catalog.tsmatchsel, JOIN = pg_catalog.tsmatchjoinsel);
-- tsvector_ops with the leakproof @@ (strategy 1); strategy 2 keeps pg_catalog's @@ usable on the
-- same index where row-level security does not apply (the owner, superusers).
CREATE OPERATOR CLASS work_plane.tsvector_rls_ops FOR TYPE tsvector USING gin AS
  OPERATOR 1 work_plane.@@ (tsvector, tsquery),
  OPERATOR 2 pg_catalog.@@ (tsvector, tsquery),
  FUNCTION 1 pg_catalog.gin_cmp_tslexeme(text, text),
  FUNCTION 2 pg_catalog.gin_extract_tsvector(tsvector, internal, internal),
  FUNCTION 3 pg_catalog.gin_extract_tsquery(tsvector, internal, int2, internal, internal, internal, internal),
  FUNCTION 4 pg_catalog.gin_tsquery_consistent(internal, int2, tsvector, int4, internal, internal, internal, internal),
  FUNCTION 5 pg_catalog.gin_cmp_prefix(text, text, int2, internal),
  FUNCTION 6 pg_catalog.gin_tsquery_triconsistent(internal, int2, tsvector, int4, internal, internal, internal),
  STORAGE text;

-------------------------------------------------------------------------------------------------
-- Expressions shared by the triggers and the rebuild functions. Plain SQL, so the planner inlines
-- them into the set-based statements (no per-row function call).
-------------------------------------------------------------------------------------------------
-- Title (weight A) over body (weight B).
CREATE FUNCTION work_plane._search_vector(config regconfig, title text, body text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS 'SELECT pg_catalog.setweight(pg_catalog.to_tsvector(config, coalesce(title, '''')), ''A'')
             OPERATOR(pg_catalog.||)
             pg_catalog.setweight(pg_catalog.to_tsvector(config, coalesce(body, '''')), ''B'')';
-- search_documents.kind of an items row.
CREATE FUNCTION work_plane._item_kind(item_type text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS 'SELECT CASE item_type WHEN ''issue'' THEN ''work_item'' ELSE item_type END';
CREATE FUNCTION work_plane._sha256_hex(content text) RETURNS text
  LANGUAGE sql STABLE STRICT PARALLEL SAFE
  AS 'SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(content, ''UTF8'')), ''hex'')';

-------------------------------------------------------------------------------------------------
-- Search documents: one row per searchable mirror row (work items, cycles, modules, pages that
-- are not gone), kept by the triggers below.
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.search_documents (
  workspace_slug   text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('work_item', 'page', 'cycle', 'module')),
  plane_id         text NOT NULL,
  project_plane_id text,
  sequence_id      int,
  title            text NOT NULL DEFAULT '',
  document         tsvector NOT NULL,
  title_vector     tsvector NOT NULL,
  rank_vector      tsvector,
  PRIMARY KEY (workspace_slug, kind, plane_id)
);
CREATE INDEX search_documents_document_idx ON work_plane.search_documents
  USING gin (document work_plane.tsvector_rls_ops);
CREATE INDEX search_documents_title_idx ON work_plane.search_documents
  USING gin (title_vector work_plane.tsvector_rls_ops);
CREATE INDEX search_documents_key_idx ON work_plane.search_documents (workspace_slug, project_plane_id, sequence_id)
  WHERE kind = 'work_item';
COMMENT ON TABLE work_plane.search_documents IS
  'Full-text index of the mirror (work items, cycles, modules, pages), kept in the upsert''s transaction; query it with work_plane.search()';
COMMENT ON COLUMN work_plane.search_documents.document IS
  'Title (weight A) and body text (weight B) in the configuration plane.search_config names';
COMMENT ON COLUMN work_plane.search_documents.title_vector IS
  'The title''s part of document: documents with every query word in their title are found (and ranked) first';
COMMENT ON COLUMN work_plane.search_documents.rank_vector IS
  'For a long document: its lexemes in the title and about the first 120 words, which search ranks by (NULL: the document is ranked itself)';

-- The words of the titles (as lexemes of the configuration), per workspace: a misspelt query word
-- is replaced by the title words closest to it (pg_trgm similarity), a small index instead of one
-- over every title. Words are added as titles arrive and dropped by rebuild_search_index().
CREATE TABLE work_plane.search_terms (
  workspace_slug text NOT NULL,
  term           text NOT NULL,
  PRIMARY KEY (workspace_slug, term)
);
CREATE INDEX search_terms_term_idx ON work_plane.search_terms USING gin (term work_plane.trgm_rls_ops);
COMMENT ON TABLE work_plane.search_terms IS
  'Title words per workspace (lexemes), for typo tolerance in work_plane.search';

-------------------------------------------------------------------------------------------------
-- Content chunks for retrieval-augmented generation: the description of every work item and the
-- content of every page, in chunks of about 1,000 characters with 150 of overlap, each with its
-- heading path. An external embedder adds vectors (README, "For agent developers").
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.content_chunks (
  workspace_slug text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('work_item', 'page')),
  plane_id       text NOT NULL,
  chunk_no       int NOT NULL CHECK (chunk_no >= 1),
  heading_path   text[] NOT NULL DEFAULT '{}',
  content        text NOT NULL,
  content_sha256 text NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_slug, kind, plane_id, chunk_no)
);
COMMENT ON TABLE work_plane.content_chunks IS
  'Work item descriptions and page contents in chunks of about 1,000 characters (150 overlap), kept current in the upsert''s transaction; a chunk whose text changes is rewritten (new content_sha256, updated_at), one that is no longer produced is deleted, and the chunks of a row marked gone are deleted';
COMMENT ON COLUMN work_plane.content_chunks.kind IS 'work_item (work_plane.items) or page (work_plane.pages)';
COMMENT ON COLUMN work_plane.content_chunks.plane_id IS 'The work item''s or page''s Plane id';
COMMENT ON COLUMN work_plane.content_chunks.chunk_no IS 'Position in the document, from 1';
COMMENT ON COLUMN work_plane.content_chunks.heading_path IS 'Headings in force where the chunk starts (h1, h2, ...)';
COMMENT ON COLUMN work_plane.content_chunks.content_sha256 IS
  'SHA-256 (hex) of content: an embedding made from another hash is stale';
COMMENT ON COLUMN work_plane.content_chunks.updated_at IS 'When this chunk''s content last changed';

-------------------------------------------------------------------------------------------------
-- Change history of work items.
-------------------------------------------------------------------------------------------------
CREATE TABLE work_plane.item_history (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_slug   text NOT NULL,
  plane_id         text NOT NULL,
  project_plane_id text,
  field            text NOT NULL
                   CHECK (field IN ('observed', 'state', 'priority', 'assignees', 'labels', 'cycle', 'modules', 'parent')),
  old_value        jsonb,
  new_value        jsonb,
  plane_updated_at timestamptz,
  source           text NOT NULL,
  recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_history_item_idx ON work_plane.item_history (workspace_slug, plane_id, plane_updated_at);
-- Pruning by age: recorded_at only grows, so a BRIN index costs next to nothing to keep.
CREATE INDEX item_history_recorded_idx ON work_plane.item_history USING brin (recorded_at);
COMMENT ON TABLE work_plane.item_history IS
  'Every observed change of a work item''s state, priority, assignees, labels, cycle, modules and parent, written in the transaction of the upsert that changed it; the first time the mirror sees an item it records one ''observed'' row with all of them. Pruned after plane.history_retention (work_plane.prune_history)';
COMMENT ON COLUMN work_plane.item_history.field IS
  'state, priority, assignees, labels, cycle, modules, parent; or observed (the first observation: new_value holds every field)';
COMMENT ON COLUMN work_plane.item_history.old_value IS
  'The value before the change (jsonb: a Plane id or name as a string, a list of ids as an array; null for none); null for observed';
COMMENT ON COLUMN work_plane.item_history.new_value IS
  'The value after the change; for observed, an object {state, priority, assignees, labels, cycle, modules, parent}';
COMMENT ON COLUMN work_plane.item_history.plane_updated_at IS 'Plane''s updated_at of the version that showed the change: when it happened';
COMMENT ON COLUMN work_plane.item_history.source IS
  'What wrote the version: sync, webhook, refresh or writeback (the row''s change_source), upgrade for rows seeded by ALTER EXTENSION UPDATE, unknown when not said';
COMMENT ON COLUMN work_plane.item_history.recorded_at IS 'When the mirror recorded it (retention counts from here)';

-------------------------------------------------------------------------------------------------
-- Triggers: keep search_documents, content_chunks and item_history in step with the mirror.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane._items_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  config regconfig := work_plane._search_config();
BEGIN
  -- The document, its rank vector, and the title's words for typo tolerance. (OFFSET 0 keeps
  -- the planner from computing the document twice.)
  WITH docs AS (
    INSERT INTO work_plane.search_documents AS d
           (workspace_slug, kind, plane_id, project_plane_id, sequence_id, title, document, title_vector, rank_vector)
    SELECT n.workspace_slug, work_plane._item_kind(n.item_type), n.plane_id, n.project_plane_id,
           n.sequence_id, coalesce(n.name, ''), v.document, pg_catalog.ts_filter(v.document, '{a}'),
           work_plane._tsvector_head(v.document, 128)
      FROM new_rows n
     CROSS JOIN LATERAL (SELECT work_plane._search_vector(config, n.name, CASE WHEN n.item_type = 'issue' THEN n.description_text
                                                            ELSE coalesce(n.description_text, n.raw ->> 'description') END) AS document
                          OFFSET 0) v
     WHERE n.gone_at IS NULL
    ON CONFLICT (workspace_slug, kind, plane_id) DO UPDATE
       SET project_plane_id = excluded.project_plane_id, sequence_id = excluded.sequence_id,
           title = excluded.title, document = excluded.document, title_vector = excluded.title_vector,
           rank_vector = excluded.rank_vector
    RETURNING d.workspace_slug, d.title_vector
  )
  INSERT INTO work_plane.search_terms (workspace_slug, term)
  SELECT DISTINCT docs.workspace_slug, t.term
    FROM docs CROSS JOIN LATERAL unnest(pg_catalog.tsvector_to_array(docs.title_vector)) AS t(term)
   WHERE pg_catalog.length(t.term) BETWEEN 3 AND 60 AND t.term !~ '^[-0-9.]+$'
  ON CONFLICT DO NOTHING;

  INSERT INTO work_plane.content_chunks AS c
         (workspace_slug, kind, plane_id, chunk_no, heading_path, content, content_sha256)
  SELECT n.workspace_slug, 'work_item', n.plane_id, k.chunk_no, k.heading_path, k.content,
         work_plane._sha256_hex(k.content)
    FROM new_rows n
   CROSS JOIN LATERAL work_plane.html_chunks(n.raw ->> 'description_html', 1000, 150) k
   WHERE n.item_type = 'issue' AND n.gone_at IS NULL AND n.description_text <> ''
  ON CONFLICT (workspace_slug, kind, plane_id, chunk_no) DO UPDATE
     SET heading_path = excluded.heading_path, content = excluded.content,
         content_sha256 = excluded.content_sha256, updated_at = excluded.updated_at
   WHERE c.content_sha256 <> excluded.content_sha256 OR c.heading_path <> excluded.heading_path;

  INSERT INTO work_plane.item_history
         (workspace_slug, plane_id, project_plane_id, field, new_value, plane_updated_at, source)
  SELECT n.workspace_slug, n.plane_id, n.project_plane_id, 'observed',
         pg_catalog.jsonb_build_object('state', n.state_plane_id, 'priority', n.priority,
           'assignees', n.assignee_ids, 'labels', n.label_ids, 'cycle', n.cycle_plane_id,
           'modules', n.module_ids, 'parent', n.parent_plane_id),
         n.plane_updated_at, coalesce(n.change_source, 'unknown')
    FROM new_rows n
   WHERE n.item_type = 'issue'
     -- A restore (pg_dump's data of item_history comes before that of items) or a re-insert of
     -- a row deleted by hand: the item's history is already there.
     AND NOT EXISTS (SELECT 1 FROM work_plane.item_history h
                      WHERE h.workspace_slug = n.workspace_slug AND h.plane_id = n.plane_id);
  RETURN NULL;
END
$fn$;

CREATE FUNCTION work_plane._items_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  config regconfig := work_plane._search_config();
BEGIN
  -- Rows that stopped being searchable, and rows whose searchable text changed (or that came
  -- back). Most updates (a state change, needs_sync) touch neither and cost a join.
  DELETE FROM work_plane.search_documents d
   USING new_rows n
   WHERE n.gone_at IS NOT NULL AND d.workspace_slug = n.workspace_slug
     AND d.kind = work_plane._item_kind(n.item_type) AND d.plane_id = n.plane_id;
  WITH docs AS (
    INSERT INTO work_plane.search_documents AS d
           (workspace_slug, kind, plane_id, project_plane_id, sequence_id, title, document, title_vector, rank_vector)
    SELECT n.workspace_slug, work_plane._item_kind(n.item_type), n.plane_id, n.project_plane_id,
           n.sequence_id, coalesce(n.name, ''), v.document, pg_catalog.ts_filter(v.document, '{a}'),
           work_plane._tsvector_head(v.document, 128)
      FROM new_rows n JOIN old_rows o USING (workspace_slug, plane_id)
     CROSS JOIN LATERAL (SELECT work_plane._search_vector(config, n.name, CASE WHEN n.item_type = 'issue' THEN n.description_text
                                                            ELSE coalesce(n.description_text, n.raw ->> 'description') END) AS document
                          OFFSET 0) v
     WHERE n.gone_at IS NULL
       AND (o.gone_at IS NOT NULL OR n.name IS DISTINCT FROM o.name
         OR n.description_text IS DISTINCT FROM o.description_text
         OR n.project_plane_id IS DISTINCT FROM o.project_plane_id
         OR n.sequence_id IS DISTINCT FROM o.sequence_id
         OR (n.item_type <> 'issue' AND n.raw ->> 'description' IS DISTINCT FROM o.raw ->> 'description'))
    ON CONFLICT (workspace_slug, kind, plane_id) DO UPDATE
       SET project_plane_id = excluded.project_plane_id, sequence_id = excluded.sequence_id,
           title = excluded.title, document = excluded.document, title_vector = excluded.title_vector,
           rank_vector = excluded.rank_vector
    RETURNING d.workspace_slug, d.title_vector
  )
  INSERT INTO work_plane.search_terms (workspace_slug, term)
  SELECT DISTINCT docs.workspace_slug, t.term
    FROM docs CROSS JOIN LATERAL unnest(pg_catalog.tsvector_to_array(docs.title_vector)) AS t(term)
   WHERE pg_catalog.length(t.term) BETWEEN 3 AND 60 AND t.term !~ '^[-0-9.]+$'
  ON CONFLICT DO NOTHING;

  -- Chunks of work items whose text changed, that came back or that went: rewritten where their
  -- content changed, the surplus deleted (all of them for a gone item). Unchanged chunks keep
  -- their row, and so an embedding an external embedder stored beside them.
  WITH changed AS MATERIALIZED (
    SELECT n.workspace_slug, n.plane_id,
           CASE WHEN n.gone_at IS NULL AND n.description_text <> '' THEN n.raw ->> 'description_html' END AS html
      FROM new_rows n JOIN old_rows o USING (workspace_slug, plane_id)
     WHERE n.item_type = 'issue'
       AND ((n.gone_at IS NULL) <> (o.gone_at IS NULL)
         OR (n.gone_at IS NULL AND n.description_text IS DISTINCT FROM o.description_text))
  ), fresh AS MATERIALIZED (
    SELECT c.workspace_slug, c.plane_id, k.chunk_no, k.heading_path, k.content
      FROM changed c CROSS JOIN LATERAL work_plane.html_chunks(c.html, 1000, 150) k
  ), written AS (
    INSERT INTO work_plane.content_chunks AS cc
           (workspace_slug, kind, plane_id, chunk_no, heading_path, content, content_sha256)
    SELECT f.workspace_slug, 'work_item', f.plane_id, f.chunk_no, f.heading_path, f.content,
           work_plane._sha256_hex(f.content)
      FROM fresh f
    ON CONFLICT (workspace_slug, kind, plane_id, chunk_no) DO UPDATE
       SET heading_path = excluded.heading_path, content = excluded.content,
           content_sha256 = excluded.content_sha256, updated_at = excluded.updated_at
     WHERE cc.content_sha256 <> excluded.content_sha256 OR cc.heading_path <> excluded.heading_path
  )
  DELETE FROM work_plane.content_chunks cc
   USING changed c
   WHERE cc.workspace_slug = c.workspace_slug AND cc.kind = 'work_item' AND cc.plane_id = c.plane_id
     AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.workspace_slug = cc.workspace_slug
                        AND f.plane_id = cc.plane_id AND f.chunk_no = cc.chunk_no);

  -- One history row per tracked field that changed. Assignees, labels and modules are sets:
  -- a reordering is no change.
  INSERT INTO work_plane.item_history
         (workspace_slug, plane_id, project_plane_id, field, old_value, new_value, plane_updated_at, source)
  SELECT x.workspace_slug, x.plane_id, x.project_plane_id, f.field, f.old_value, f.new_value,
         x.plane_updated_at, coalesce(x.change_source, 'unknown')
    FROM (SELECT n.workspace_slug, n.plane_id, n.project_plane_id, n.plane_updated_at, n.change_source,
                 o.state_plane_id AS o_state, n.state_plane_id AS n_state,
                 o.priority AS o_priority, n.priority AS n_priority,
                 coalesce(o.assignee_ids, '{}') AS o_assignees, coalesce(n.assignee_ids, '{}') AS n_assignees,
                 coalesce(o.label_ids, '{}') AS o_labels, coalesce(n.label_ids, '{}') AS n_labels,
                 o.cycle_plane_id AS o_cycle, n.cycle_plane_id AS n_cycle,
                 coalesce(o.module_ids, '{}') AS o_modules, coalesce(n.module_ids, '{}') AS n_modules,
                 o.parent_plane_id AS o_parent, n.parent_plane_id AS n_parent
            FROM new_rows n JOIN old_rows o USING (workspace_slug, plane_id)
           WHERE n.item_type = 'issue'
             AND (n.state_plane_id IS DISTINCT FROM o.state_plane_id
               OR n.priority IS DISTINCT FROM o.priority
               OR NOT (coalesce(n.assignee_ids, '{}') @> coalesce(o.assignee_ids, '{}')
                       AND coalesce(n.assignee_ids, '{}') <@ coalesce(o.assignee_ids, '{}'))
               OR NOT (coalesce(n.label_ids, '{}') @> coalesce(o.label_ids, '{}')
                       AND coalesce(n.label_ids, '{}') <@ coalesce(o.label_ids, '{}'))
               OR n.cycle_plane_id IS DISTINCT FROM o.cycle_plane_id
               OR NOT (coalesce(n.module_ids, '{}') @> coalesce(o.module_ids, '{}')
                       AND coalesce(n.module_ids, '{}') <@ coalesce(o.module_ids, '{}'))
               OR n.parent_plane_id IS DISTINCT FROM o.parent_plane_id)) x
   CROSS JOIN LATERAL (VALUES
     ('state', x.o_state IS DISTINCT FROM x.n_state, pg_catalog.to_jsonb(x.o_state), pg_catalog.to_jsonb(x.n_state)),
     ('priority', x.o_priority IS DISTINCT FROM x.n_priority, pg_catalog.to_jsonb(x.o_priority), pg_catalog.to_jsonb(x.n_priority)),
     ('assignees', NOT (x.n_assignees @> x.o_assignees AND x.n_assignees <@ x.o_assignees),
                   pg_catalog.to_jsonb(x.o_assignees), pg_catalog.to_jsonb(x.n_assignees)),
     ('labels', NOT (x.n_labels @> x.o_labels AND x.n_labels <@ x.o_labels),
                pg_catalog.to_jsonb(x.o_labels), pg_catalog.to_jsonb(x.n_labels)),
     ('cycle', x.o_cycle IS DISTINCT FROM x.n_cycle, pg_catalog.to_jsonb(x.o_cycle), pg_catalog.to_jsonb(x.n_cycle)),
     ('modules', NOT (x.n_modules @> x.o_modules AND x.n_modules <@ x.o_modules),
                 pg_catalog.to_jsonb(x.o_modules), pg_catalog.to_jsonb(x.n_modules)),
     ('parent', x.o_parent IS DISTINCT FROM x.n_parent, pg_catalog.to_jsonb(x.o_parent), pg_catalog.to_jsonb(x.n_parent))
   ) AS f(field, changed, old_value, new_value)
   WHERE f.changed;
  RETURN NULL;
END
$fn$;

-- Deleted mirror rows (remove_installation's cascade, a manual DELETE) take what derives from them.
CREATE FUNCTION work_plane._items_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  DELETE FROM work_plane.search_documents d USING old_rows o
   WHERE d.workspace_slug = o.workspace_slug AND d.kind = work_plane._item_kind(o.item_type)
     AND d.plane_id = o.plane_id;
  DELETE FROM work_plane.content_chunks c USING old_rows o
   WHERE c.workspace_slug = o.workspace_slug AND c.kind = 'work_item' AND c.plane_id = o.plane_id;
  DELETE FROM work_plane.item_history h USING old_rows o
   WHERE h.workspace_slug = o.workspace_slug AND h.plane_id = o.plane_id;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION work_plane._items_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  DELETE FROM work_plane.search_documents WHERE kind IN ('work_item', 'cycle', 'module');
  -- search_terms keeps its words (of pages too): rebuild_search_index() drops stale ones.
  DELETE FROM work_plane.content_chunks WHERE kind = 'work_item';
  DELETE FROM work_plane.item_history;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION work_plane._pages_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  config regconfig := work_plane._search_config();
BEGIN
  WITH docs AS (
    INSERT INTO work_plane.search_documents AS d
           (workspace_slug, kind, plane_id, project_plane_id, title, document, title_vector, rank_vector)
    SELECT n.workspace_slug, 'page', n.plane_id, n.project_plane_id, coalesce(n.name, ''), v.document,
           pg_catalog.ts_filter(v.document, '{a}'), work_plane._tsvector_head(v.document, 128)
      FROM new_rows n
     CROSS JOIN LATERAL (SELECT work_plane._search_vector(config, n.name, n.content_text) AS document OFFSET 0) v
     WHERE n.gone_at IS NULL
    ON CONFLICT (workspace_slug, kind, plane_id) DO UPDATE
       SET project_plane_id = excluded.project_plane_id, title = excluded.title,
           document = excluded.document, title_vector = excluded.title_vector, rank_vector = excluded.rank_vector
    RETURNING d.workspace_slug, d.title_vector
  )
  INSERT INTO work_plane.search_terms (workspace_slug, term)
  SELECT DISTINCT docs.workspace_slug, t.term
    FROM docs CROSS JOIN LATERAL unnest(pg_catalog.tsvector_to_array(docs.title_vector)) AS t(term)
   WHERE pg_catalog.length(t.term) BETWEEN 3 AND 60 AND t.term !~ '^[-0-9.]+$'
  ON CONFLICT DO NOTHING;

  INSERT INTO work_plane.content_chunks AS c
         (workspace_slug, kind, plane_id, chunk_no, heading_path, content, content_sha256)
  SELECT n.workspace_slug, 'page', n.plane_id, k.chunk_no, k.heading_path, k.content,
         work_plane._sha256_hex(k.content)
    FROM new_rows n
   CROSS JOIN LATERAL work_plane.html_chunks(n.raw ->> 'description_html', 1000, 150) k
   WHERE n.gone_at IS NULL AND n.content_text <> ''
  ON CONFLICT (workspace_slug, kind, plane_id, chunk_no) DO UPDATE
     SET heading_path = excluded.heading_path, content = excluded.content,
         content_sha256 = excluded.content_sha256, updated_at = excluded.updated_at
   WHERE c.content_sha256 <> excluded.content_sha256 OR c.heading_path <> excluded.heading_path;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION work_plane._pages_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  config regconfig := work_plane._search_config();
BEGIN
  DELETE FROM work_plane.search_documents d
   USING new_rows n
   WHERE n.gone_at IS NOT NULL AND d.workspace_slug = n.workspace_slug AND d.kind = 'page'
     AND d.plane_id = n.plane_id;
  WITH docs AS (
    INSERT INTO work_plane.search_documents AS d
           (workspace_slug, kind, plane_id, project_plane_id, title, document, title_vector, rank_vector)
    SELECT n.workspace_slug, 'page', n.plane_id, n.project_plane_id, coalesce(n.name, ''), v.document,
           pg_catalog.ts_filter(v.document, '{a}'), work_plane._tsvector_head(v.document, 128)
      FROM new_rows n JOIN old_rows o USING (workspace_slug, plane_id)
     CROSS JOIN LATERAL (SELECT work_plane._search_vector(config, n.name, n.content_text) AS document OFFSET 0) v
     WHERE n.gone_at IS NULL
       AND (o.gone_at IS NOT NULL OR n.name IS DISTINCT FROM o.name
         OR n.content_text IS DISTINCT FROM o.content_text
         OR n.project_plane_id IS DISTINCT FROM o.project_plane_id)
    ON CONFLICT (workspace_slug, kind, plane_id) DO UPDATE
       SET project_plane_id = excluded.project_plane_id, title = excluded.title,
           document = excluded.document, title_vector = excluded.title_vector, rank_vector = excluded.rank_vector
    RETURNING d.workspace_slug, d.title_vector
  )
  INSERT INTO work_plane.search_terms (workspace_slug, term)
  SELECT DISTINCT docs.workspace_slug, t.term
    FROM docs CROSS JOIN LATERAL unnest(pg_catalog.tsvector_to_array(docs.title_vector)) AS t(term)
   WHERE pg_catalog.length(t.term) BETWEEN 3 AND 60 AND t.term !~ '^[-0-9.]+$'
  ON CONFLICT DO NOTHING;

  WITH changed AS MATERIALIZED (
    SELECT n.workspace_slug, n.plane_id,
           CASE WHEN n.gone_at IS NULL AND n.content_text <> '' THEN n.raw ->> 'description_html' END AS html
      FROM new_rows n JOIN old_rows o USING (workspace_slug, plane_id)
     WHERE (n.gone_at IS NULL) <> (o.gone_at IS NULL)
        OR (n.gone_at IS NULL AND n.content_text IS DISTINCT FROM o.content_text)
  ), fresh AS MATERIALIZED (
    SELECT c.workspace_slug, c.plane_id, k.chunk_no, k.heading_path, k.content
      FROM changed c CROSS JOIN LATERAL work_plane.html_chunks(c.html, 1000, 150) k
  ), written AS (
    INSERT INTO work_plane.content_chunks AS cc
           (workspace_slug, kind, plane_id, chunk_no, heading_path, content, content_sha256)
    SELECT f.workspace_slug, 'page', f.plane_id, f.chunk_no, f.heading_path, f.content,
           work_plane._sha256_hex(f.content)
      FROM fresh f
    ON CONFLICT (workspace_slug, kind, plane_id, chunk_no) DO UPDATE
       SET heading_path = excluded.heading_path, content = excluded.content,
           content_sha256 = excluded.content_sha256, updated_at = excluded.updated_at
     WHERE cc.content_sha256 <> excluded.content_sha256 OR cc.heading_path <> excluded.heading_path
  )
  DELETE FROM work_plane.content_chunks cc
   USING changed c
   WHERE cc.workspace_slug = c.workspace_slug AND cc.kind = 'page' AND cc.plane_id = c.plane_id
     AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.workspace_slug = cc.workspace_slug
                        AND f.plane_id = cc.plane_id AND f.chunk_no = cc.chunk_no);
  RETURN NULL;
END
$fn$;

CREATE FUNCTION work_plane._pages_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  DELETE FROM work_plane.search_documents d USING old_rows o
   WHERE d.workspace_slug = o.workspace_slug AND d.kind = 'page' AND d.plane_id = o.plane_id;
  DELETE FROM work_plane.content_chunks c USING old_rows o
   WHERE c.workspace_slug = o.workspace_slug AND c.kind = 'page' AND c.plane_id = o.plane_id;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION work_plane._pages_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  DELETE FROM work_plane.search_documents WHERE kind = 'page';
  DELETE FROM work_plane.content_chunks WHERE kind = 'page';
  RETURN NULL;
END
$fn$;

-- Postgres allows transition tables on single-event triggers only: one trigger per event.
CREATE TRIGGER search_history_insert AFTER INSERT ON work_plane.items
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION work_plane._items_inserted();
CREATE TRIGGER search_history_update AFTER UPDATE ON work_plane.items
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION work_plane._items_updated();
CREATE TRIGGER search_history_delete AFTER DELETE ON work_plane.items
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION work_plane._items_deleted();
CREATE TRIGGER search_history_truncate AFTER TRUNCATE ON work_plane.items
  FOR EACH STATEMENT EXECUTE FUNCTION work_plane._items_truncated();
CREATE TRIGGER search_insert AFTER INSERT ON work_plane.pages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION work_plane._pages_inserted();
CREATE TRIGGER search_update AFTER UPDATE ON work_plane.pages
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION work_plane._pages_updated();
CREATE TRIGGER search_delete AFTER DELETE ON work_plane.pages
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION work_plane._pages_deleted();
CREATE TRIGGER search_truncate AFTER TRUNCATE ON work_plane.pages
  FOR EACH STATEMENT EXECUTE FUNCTION work_plane._pages_truncated();

-------------------------------------------------------------------------------------------------
-- Maintenance: rebuilds (after plane.search_config changes; when upgrading) and history pruning.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION work_plane.rebuild_search_index() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  config regconfig := work_plane._search_config();
  n bigint;
BEGIN
  -- Writers wait until the rebuild commits: a document computed from this snapshot must not
  -- overwrite one an upsert committed meanwhile.
  LOCK TABLE work_plane.items, work_plane.pages IN SHARE MODE;
  DELETE FROM work_plane.search_documents;
  DELETE FROM work_plane.search_terms;
  WITH docs AS (
    INSERT INTO work_plane.search_documents
           (workspace_slug, kind, plane_id, project_plane_id, sequence_id, title, document, title_vector, rank_vector)
    SELECT x.workspace_slug, x.kind, x.plane_id, x.project_plane_id, x.sequence_id, x.title, x.document,
           pg_catalog.ts_filter(x.document, '{a}'), work_plane._tsvector_head(x.document, 128)
      FROM (SELECT i.workspace_slug, work_plane._item_kind(i.item_type) AS kind, i.plane_id, i.project_plane_id,
                   i.sequence_id, coalesce(i.name, '') AS title,
                   work_plane._search_vector(config, i.name,
                     CASE WHEN i.item_type = 'issue' THEN i.description_text
                          ELSE coalesce(i.description_text, i.raw ->> 'description') END) AS document
              FROM work_plane.items i
             WHERE i.gone_at IS NULL
            UNION ALL
            SELECT p.workspace_slug, 'page', p.plane_id, p.project_plane_id, NULL, coalesce(p.name, ''),
                   work_plane._search_vector(config, p.name, p.content_text)
              FROM work_plane.pages p
             WHERE p.gone_at IS NULL
            OFFSET 0) x
    RETURNING workspace_slug, title_vector
  ), terms AS (
    INSERT INTO work_plane.search_terms (workspace_slug, term)
    SELECT DISTINCT docs.workspace_slug, t.term
      FROM docs CROSS JOIN LATERAL unnest(pg_catalog.tsvector_to_array(docs.title_vector)) AS t(term)
     WHERE pg_catalog.length(t.term) BETWEEN 3 AND 60 AND t.term !~ '^[-0-9.]+$'
  )
  SELECT count(*) INTO n FROM docs;
  INSERT INTO ops.run_events (source, action, details)
  VALUES ('plane', 'search_index_rebuilt', pg_catalog.jsonb_build_object('documents', n, 'config', config::text));
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION work_plane.rebuild_search_index() IS
  'Recomputes every search document in the configuration plane.search_config names (run it after changing the setting); blocks mirror writes until it commits; returns the number of documents';

CREATE FUNCTION work_plane.rebuild_content_chunks() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  n bigint;
BEGIN
  LOCK TABLE work_plane.items, work_plane.pages IN SHARE MODE;
  WITH fresh AS MATERIALIZED (
    SELECT i.workspace_slug, 'work_item' AS kind, i.plane_id, k.chunk_no, k.heading_path, k.content
      FROM work_plane.items i
     CROSS JOIN LATERAL work_plane.html_chunks(i.raw ->> 'description_html', 1000, 150) k
     WHERE i.item_type = 'issue' AND i.gone_at IS NULL AND i.description_text <> ''
    UNION ALL
    SELECT p.workspace_slug, 'page', p.plane_id, k.chunk_no, k.heading_path, k.content
      FROM work_plane.pages p
     CROSS JOIN LATERAL work_plane.html_chunks(p.raw ->> 'description_html', 1000, 150) k
     WHERE p.gone_at IS NULL AND p.content_text <> ''
  ), written AS (
    INSERT INTO work_plane.content_chunks AS cc
           (workspace_slug, kind, plane_id, chunk_no, heading_path, content, content_sha256)
    SELECT f.workspace_slug, f.kind, f.plane_id, f.chunk_no, f.heading_path, f.content,
           work_plane._sha256_hex(f.content)
      FROM fresh f
    ON CONFLICT (workspace_slug, kind, plane_id, chunk_no) DO UPDATE
       SET heading_path = excluded.heading_path, content = excluded.content,
           content_sha256 = excluded.content_sha256, updated_at = excluded.updated_at
     WHERE cc.content_sha256 <> excluded.content_sha256 OR cc.heading_path <> excluded.heading_path
  ), removed AS (
    DELETE FROM work_plane.content_chunks cc
     WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.workspace_slug = cc.workspace_slug
                          AND f.kind = cc.kind AND f.plane_id = cc.plane_id AND f.chunk_no = cc.chunk_no)
  )
  SELECT count(*) INTO n FROM fresh;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION work_plane.rebuild_content_chunks() IS
  'Recomputes the chunks of every work item and page (unchanged chunks keep their row); returns the number of chunks';

CREATE FUNCTION work_plane.prune_history() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  retention interval := coalesce(nullif(pg_catalog.current_setting('plane.history_retention', true), '')::interval,
                                 interval '730 days');
  n bigint;
BEGIN
  DELETE FROM work_plane.item_history WHERE recorded_at < pg_catalog.now() - retention;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$fn$;
COMMENT ON FUNCTION work_plane.prune_history() IS
  'Deletes work_plane.item_history rows recorded longer ago than plane.history_retention (the launcher calls it); returns how many';

-------------------------------------------------------------------------------------------------
-- Plane web URLs.
-------------------------------------------------------------------------------------------------
-- The web app's base URL for an API URL: Plane Cloud's API is api.plane.so and its app
-- app.plane.so; a self-hosted Plane serves both from one host.
CREATE FUNCTION work_plane._web_base_url(api_url text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $f$SELECT CASE WHEN m[2] = 'api.plane.so' THEN 'https://app.plane.so'
                    ELSE m[1] || '://' || m[2] || coalesce(m[3], '') END
          FROM pg_catalog.regexp_match(api_url, '^(https?)://([^/:?#]+)(:[0-9]+)?') AS m$f$;

-- Whether the caller may read any row of a workspace's mirror (its row-level security policies
-- decide, custom ones included). SECURITY INVOKER, and called from the view below, which runs
-- as its owner: functions in a view run as the user querying it.
CREATE FUNCTION work_plane._reads_workspace(workspace_slug text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  RETURN EXISTS (SELECT 1 FROM work_plane.projects p WHERE p.workspace_slug = _reads_workspace.workspace_slug);
END
$fn$;

CREATE VIEW work_plane.workspace_urls WITH (security_barrier = true) AS
SELECT i.workspace_slug,
       work_plane._web_base_url(coalesce(i.api_url, nullif(pg_catalog.current_setting('plane.api_url', true), ''),
                                         'https://api.plane.so')) AS web_url
  FROM work_plane.installations i
 WHERE work_plane._reads_workspace(i.workspace_slug);
COMMENT ON VIEW work_plane.workspace_urls IS
  'Plane web app base URL of each workspace the caller may read (app.plane.so for Plane Cloud; a self-hosted Plane''s own host)';
COMMENT ON COLUMN work_plane.workspace_urls.web_url IS
  'Links: <web_url>/<slug>/browse/<KEY>/ (work item), <web_url>/<slug>/pages/<id>/ (workspace page), <web_url>/<slug>/projects/<project>/pages/<id>/';

-------------------------------------------------------------------------------------------------
-- Search.
-------------------------------------------------------------------------------------------------
-- One hit of search() while it collects them.
CREATE TYPE work_plane._search_hit AS (workspace_slug text, kind text, plane_id text, matched_by text, score real);

-- Full-text hits of a query, for search(): documents with all the words in their title, ranked
-- (title over body: weights A and B), then, when those are fewer than lim, documents with the words
-- elsewhere too. Each candidate costs a read of its row (about 3 µs), so each step ranks at most
-- the first 1,500 candidates it finds: a query matching ten thousand titles still answers in
-- milliseconds, with the best of 1,500 of them. A long document is ranked by its title and
-- beginning (rank_vector): ranking its whole text would cost a TOAST read per hit. A phrase
-- ('a' <-> 'b') can only be checked on a document's positions, which the index does not hold:
-- candidates are found with the words ANDed, and the phrase is checked on the title, then on the
-- beginning, and only then on the whole text. (A negated phrase relaxed that way would exclude
-- too much: such queries are used as they are.)
CREATE FUNCTION work_plane._text_hits(q tsquery, workspace_slug text, kinds text[], lim int,
                                      base real, scale real, matched_by text)
RETURNS TABLE (hit_workspace text, hit_kind text, hit_id text, hit_matched_by text, hit_score real)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  candidates tsquery := CASE WHEN q::text ~ '<[0-9-]+>' AND q::text !~ '!'
                             THEN regexp_replace(q::text, '<[0-9-]+>', '&', 'g')::tsquery ELSE q END;
  found bigint;
BEGIN
  IF numnode(q) = 0 OR lim <= 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  SELECT c.workspace_slug, c.kind, c.plane_id, _text_hits.matched_by,
         (base + scale * ts_rank(coalesce(c.rank_vector, c.document), q, 32))::real AS score
    FROM (SELECT d.workspace_slug, d.kind, d.plane_id, d.rank_vector, d.document
            FROM work_plane.search_documents d
           WHERE d.title_vector OPERATOR(work_plane.@@) candidates
             AND (candidates = q OR d.title_vector OPERATOR(work_plane.@@) q OR d.document OPERATOR(work_plane.@@) q)
             AND (_text_hits.workspace_slug IS NULL OR d.workspace_slug = _text_hits.workspace_slug)
             AND (kinds IS NULL OR d.kind = ANY (kinds))
           LIMIT 1500) c
   ORDER BY score DESC
   LIMIT lim;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF found >= lim THEN
    RETURN;
  END IF;
  RETURN QUERY
  SELECT c.workspace_slug, c.kind, c.plane_id, _text_hits.matched_by,
         (base + scale * ts_rank(coalesce(c.rank_vector, c.document), q, 32))::real AS score
    FROM (SELECT d.workspace_slug, d.kind, d.plane_id, d.rank_vector, d.document
            FROM work_plane.search_documents d
           WHERE d.document OPERATOR(work_plane.@@) candidates
             AND NOT d.title_vector OPERATOR(work_plane.@@) candidates
             AND (candidates = q OR coalesce(d.rank_vector, d.document) OPERATOR(work_plane.@@) q
                  OR d.document OPERATOR(work_plane.@@) q)
             AND (_text_hits.workspace_slug IS NULL OR d.workspace_slug = _text_hits.workspace_slug)
             AND (kinds IS NULL OR d.kind = ANY (kinds))
           LIMIT 1500) c
   ORDER BY score DESC
   LIMIT lim - found;
END
$fn$;

CREATE FUNCTION work_plane.search(query text, workspace_slug text DEFAULT NULL, kinds text[] DEFAULT NULL,
                                  max_results int DEFAULT 20)
RETURNS TABLE (kind text, plane_id text, key text, title text, snippet text, rank real, url text,
               workspace text, matched_by text)
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- No NOTICE for a query without words; no JIT compile for a query of milliseconds; how close a
-- title word must be to a misspelt query word.
SET client_min_messages = warning
SET jit = off
SET pg_trgm.similarity_threshold = 0.3
AS $fn$
#variable_conflict use_column
DECLARE
  -- A Plane key as a word: identifier (a letter, then letters and digits, up to 12), "-", the
  -- sequence number; not after "-" (-API-16 excludes the key's mentions instead).
  key_pattern constant text := '(?:^|[^[:alnum:]-])([[:alpha:]][[:alnum:]]{0,11})-([0-9]{1,9})(?![[:alnum:]])';
  config regconfig := work_plane._search_config();
  lim int := least(greatest(coalesce(max_results, 20), 0), 1000);
  tsq tsquery;          -- the query's words, or a mention of one of its keys
  fuzzy tsquery;        -- misspelt words replaced by the title words closest to them
  excluded tsquery;     -- -word, -"a phrase"
  key_words text;
  hits work_plane._search_hit[];
BEGIN
  IF query IS NULL OR btrim(query) = '' OR lim = 0 THEN
    RETURN;
  END IF;
  IF kinds IS NOT NULL AND NOT (kinds <@ ARRAY['work_item', 'page', 'cycle', 'module']) THEN
    RAISE EXCEPTION 'unknown kind in %', kinds
      USING ERRCODE = 'invalid_parameter_value', HINT = 'kinds are work_item, page, cycle and module.';
  END IF;

  -- The words without the keys (a key is not a word the documents must contain too), or any
  -- document that mentions one of the keys.
  tsq := websearch_to_tsquery(config, regexp_replace(query, key_pattern, ' ', 'g'));
  SELECT string_agg('"' || m[1] || '-' || m[2] || '"', ' or ') INTO key_words
    FROM regexp_matches(query, key_pattern, 'g') AS m;
  IF key_words IS NOT NULL THEN
    tsq := CASE WHEN numnode(tsq) > 0 THEN tsq || websearch_to_tsquery(config, key_words)
                ELSE websearch_to_tsquery(config, key_words) END;
  END IF;
  SELECT websearch_to_tsquery(config, string_agg(m[1], ' or ')) INTO excluded
    FROM regexp_matches(query, '(?:^|\s)-("[^"]*"|[^\s"]+)', 'g') AS m;

  -- 1. Exact keys (rank 2 and up), then full-text hits (1 to 2). key_refs is MATERIALIZED so that
  -- d.sequence_id = r.seq compares plain columns: leakproof, hence an index condition under
  -- row-level security (a cast in the condition would not be).
  WITH key_refs AS MATERIALIZED (
    SELECT upper(m[1]) AS ident, m[2]::int AS seq FROM regexp_matches(query, key_pattern, 'g') AS m
  ), key_hits AS (
    SELECT d.workspace_slug, d.kind, d.plane_id, 'key'::text AS matched_by,
           (2 + CASE WHEN numnode(tsq) > 0 THEN ts_rank(coalesce(d.rank_vector, d.document), tsq, 32) ELSE 0 END)::real AS score
      FROM key_refs r
      JOIN work_plane.projects p ON upper(p.identifier) = r.ident
      JOIN work_plane.search_documents d
        ON d.workspace_slug = p.workspace_slug AND d.kind = 'work_item'
       AND d.project_plane_id = p.plane_id AND d.sequence_id = r.seq
     WHERE (search.workspace_slug IS NULL OR d.workspace_slug = search.workspace_slug)
       AND (kinds IS NULL OR 'work_item' = ANY (kinds))
  ), all_hits AS (
    SELECT * FROM key_hits
    UNION ALL
    SELECT * FROM work_plane._text_hits(tsq, search.workspace_slug, kinds, lim, 1, 1, 'text')
  )
  SELECT array_agg(ROW(h.workspace_slug, h.kind, h.plane_id, h.matched_by, h.score)::work_plane._search_hit)
    INTO hits
    FROM (SELECT DISTINCT ON (a.workspace_slug, a.kind, a.plane_id) a.*
            FROM all_hits a ORDER BY a.workspace_slug, a.kind, a.plane_id, a.score DESC) h;

  -- 2. When that found little: typos. Every query word of 3 or more characters stands for the
  -- (up to 3) title words of the searched workspaces most similar to it (pg_trgm, over
  -- work_plane.search_terms) and at most one character longer or shorter (one typo: a letter
  -- dropped, doubled, swapped or wrong); the words are ANDed, the excluded ones still excluded,
  -- and the hits rank below 1.
  IF coalesce(cardinality(hits), 0) < least(lim, 3) THEN
    SELECT string_agg('(' || x.alternatives || ')', ' & ')::tsquery INTO fuzzy
      FROM (SELECT w.word,
                   string_agg('''' || replace(replace(t.term, '\', '\\'), '''', '''''') || '''', ' | ') AS alternatives
              FROM (SELECT DISTINCT f AS word
                      FROM regexp_split_to_table(
                             work_plane._fold(regexp_replace(regexp_replace(query, '(^|\s)-("[^"]*"|[^\s"]+)', ' ', 'g'),
                                                             key_pattern, ' ', 'g')),
                             '[^[:alnum:]]+') AS f
                     WHERE length(f) >= 3) w
             CROSS JOIN LATERAL (
               SELECT st.term
                 FROM work_plane.search_terms st
                WHERE st.term OPERATOR(work_plane.%) w.word
                  AND abs(length(st.term) - length(w.word)) <= 1
                  AND (search.workspace_slug IS NULL OR st.workspace_slug = search.workspace_slug)
                GROUP BY st.term
                ORDER BY max(work_plane._similarity(st.term, w.word)) DESC, st.term
                LIMIT 3) t
             GROUP BY w.word) x;
    IF numnode(fuzzy) > 0 THEN
      IF numnode(excluded) > 0 THEN
        fuzzy := fuzzy && !! excluded;
      END IF;
      SELECT coalesce(hits, '{}') || coalesce(array_agg(ROW(f.hit_workspace, f.hit_kind, f.hit_id,
                                                            f.hit_matched_by, f.hit_score)::work_plane._search_hit), '{}')
        INTO hits
        FROM work_plane._text_hits(fuzzy, search.workspace_slug, kinds, lim, 0, 0.999, 'fuzzy') f
       WHERE NOT EXISTS (SELECT 1 FROM unnest(hits) h
                          WHERE h.workspace_slug = f.hit_workspace AND h.kind = f.hit_kind AND h.plane_id = f.hit_id);
    END IF;
  END IF;
  IF coalesce(cardinality(hits), 0) = 0 THEN
    RETURN;
  END IF;

  -- 3. The best lim, with what a reader of the list needs. The snippet is cut from 1,200
  -- characters around the first match of a longer text (ts_headline parses all the text it is
  -- given: a whole page costs a millisecond).
  RETURN QUERY
  SELECT t.kind, t.plane_id,
         CASE WHEN t.kind = 'work_item' THEN p.identifier || '-' || i.sequence_id END,
         coalesce(i.name, pg.name),
         CASE WHEN b.body = '' THEN NULL
              WHEN numnode(b.q) > 0
              -- (adjacent marks merged: CJK characters are marked one by one)
              THEN replace(ts_headline(config, b.window, b.q,
                                       'MaxFragments=2, MaxWords=20, MinWords=8, FragmentDelimiter=" … ", StartSel=**, StopSel=**'),
                           '****', '')
              ELSE left(b.body, 160) END,
         t.score,
         u.web_url || '/' || t.workspace_slug ||
           CASE t.kind
             WHEN 'work_item' THEN '/browse/' || p.identifier || '-' || i.sequence_id || '/'
             WHEN 'cycle' THEN '/projects/' || i.project_plane_id || '/cycles/' || t.plane_id || '/'
             WHEN 'module' THEN '/projects/' || i.project_plane_id || '/modules/' || t.plane_id || '/'
             ELSE CASE WHEN pg.project_plane_id IS NULL THEN '/pages/' || t.plane_id || '/'
                       ELSE '/projects/' || pg.project_plane_id || '/pages/' || t.plane_id || '/' END
           END,
         t.workspace_slug, t.matched_by
    FROM (SELECT h.* FROM unnest(hits) h ORDER BY h.score DESC, h.plane_id LIMIT lim) t
    LEFT JOIN work_plane.items i
      ON t.kind <> 'page' AND i.workspace_slug = t.workspace_slug AND i.plane_id = t.plane_id
    LEFT JOIN work_plane.pages pg
      ON t.kind = 'page' AND pg.workspace_slug = t.workspace_slug AND pg.plane_id = t.plane_id
    LEFT JOIN work_plane.projects p
      ON p.workspace_slug = t.workspace_slug AND p.plane_id = coalesce(i.project_plane_id, pg.project_plane_id)
    LEFT JOIN work_plane.workspace_urls u ON u.workspace_slug = t.workspace_slug
   CROSS JOIN LATERAL (
     SELECT x.body, x.q,
            CASE WHEN length(x.body) <= 1200 THEN x.body
                 ELSE substr(x.body, greatest(coalesce(nullif(strpos(lower(x.body), x.first_word), 0), 1) - 300, 1), 1200)
            END AS window
       FROM (SELECT coalesce(i.description_text, pg.content_text, '') AS body,
                    CASE WHEN t.matched_by = 'fuzzy' THEN fuzzy ELSE tsq END AS q,
                    coalesce(substring((CASE WHEN t.matched_by = 'fuzzy' THEN fuzzy ELSE tsq END)::text
                                       FROM '''((?:[^'']|'''')+)'''), '') AS first_word) x
   ) b
   WHERE (i.plane_id IS NOT NULL AND i.gone_at IS NULL) OR (pg.plane_id IS NOT NULL AND pg.gone_at IS NULL)
   ORDER BY t.score DESC, t.plane_id;
END
$fn$;
COMMENT ON FUNCTION work_plane.search(text, text, text[], int) IS
  'Ranked search of work items, pages, cycles and modules the caller may read (row-level security). Web-search syntax ("phrase", -word, or); an exact key (API-16) first (rank >= 2), then full-text hits, title over body (1 <= rank < 2), then, when those are few, hits for the title words closest to misspelt query words (rank < 1). Snippets mark matches with **';

-------------------------------------------------------------------------------------------------
-- Analytics views (security_invoker: row-level security of the caller applies).
-------------------------------------------------------------------------------------------------
-- A project's time zone, or UTC when it has none or Postgres does not know it (a view must not
-- fail for one project's odd value).
CREATE FUNCTION work_plane._time_zone(zone text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF zone IS NULL OR zone = '' THEN
    RETURN 'UTC';
  END IF;
  PERFORM pg_catalog.now() AT TIME ZONE zone;
  RETURN zone;
EXCEPTION WHEN OTHERS THEN
  RETURN 'UTC';
END
$fn$;

CREATE VIEW work_plane.item_state_intervals WITH (security_invoker = true) AS
WITH events AS (
  SELECT h.workspace_slug, h.plane_id, h.project_plane_id, h.id,
         coalesce(h.plane_updated_at, h.recorded_at) AS at,
         CASE WHEN h.field = 'observed' THEN h.new_value ->> 'state' ELSE h.new_value #>> '{}' END AS state_plane_id,
         CASE WHEN h.field = 'state' THEN h.old_value #>> '{}' END AS previous_state_plane_id,
         h.field = 'observed' AS first_observation
    FROM work_plane.item_history h
   WHERE h.field IN ('observed', 'state')
), ordered AS (
  SELECT e.*, lead(e.at) OVER w AS next_at, row_number() OVER w AS n
    FROM events e
  WINDOW w AS (PARTITION BY e.workspace_slug, e.plane_id ORDER BY e.at, e.id)
), intervals AS (
  SELECT o.workspace_slug, o.plane_id, o.project_plane_id, o.state_plane_id, o.at AS entered_at,
         o.next_at AS left_at, o.first_observation
    FROM ordered o
  UNION ALL
  -- History older than plane.history_retention is pruned: the earliest change kept still says
  -- which state came before it, entered at an unknown time.
  SELECT o.workspace_slug, o.plane_id, o.project_plane_id, o.previous_state_plane_id, NULL, o.at, false
    FROM ordered o
   WHERE o.n = 1 AND NOT o.first_observation AND o.previous_state_plane_id IS NOT NULL
)
SELECT iv.workspace_slug, iv.plane_id, p.identifier || '-' || i.sequence_id AS key, iv.project_plane_id,
       iv.state_plane_id, s.name AS state_name, s."group" AS state_group,
       iv.entered_at, iv.left_at, coalesce(iv.left_at, now()) - iv.entered_at AS duration,
       iv.left_at IS NULL AS is_current, iv.first_observation, i.gone_at
  FROM intervals iv
  LEFT JOIN work_plane.items i ON i.workspace_slug = iv.workspace_slug AND i.plane_id = iv.plane_id
  LEFT JOIN work_plane.projects p ON p.workspace_slug = iv.workspace_slug AND p.plane_id = iv.project_plane_id
  LEFT JOIN work_plane.states s ON s.workspace_slug = iv.workspace_slug AND s.plane_id = iv.state_plane_id;
COMMENT ON VIEW work_plane.item_state_intervals IS
  'Time in each state per work item: one row per stay in a state, from the change history (Plane''s updated_at of each change). Readable under row-level security';
COMMENT ON COLUMN work_plane.item_state_intervals.workspace_slug IS 'Workspace';
COMMENT ON COLUMN work_plane.item_state_intervals.plane_id IS 'Work item id';
COMMENT ON COLUMN work_plane.item_state_intervals.key IS 'Work item key (PROJ-12)';
COMMENT ON COLUMN work_plane.item_state_intervals.project_plane_id IS 'Project id';
COMMENT ON COLUMN work_plane.item_state_intervals.state_plane_id IS 'State id';
COMMENT ON COLUMN work_plane.item_state_intervals.state_name IS 'State name (as it is now)';
COMMENT ON COLUMN work_plane.item_state_intervals.state_group IS 'backlog, unstarted, started, completed or cancelled';
COMMENT ON COLUMN work_plane.item_state_intervals.entered_at IS
  'When the item entered the state; at the first observation, when the mirror first saw it in that state (it may have been there longer); NULL when that history was pruned';
COMMENT ON COLUMN work_plane.item_state_intervals.left_at IS 'When it left the state; NULL while it is still in it';
COMMENT ON COLUMN work_plane.item_state_intervals.duration IS 'left_at (or now) minus entered_at';
COMMENT ON COLUMN work_plane.item_state_intervals.is_current IS 'The item is in this state now';
COMMENT ON COLUMN work_plane.item_state_intervals.first_observation IS
  'The stay starts at the mirror''s first observation of the item: entered_at is a lower bound of the time spent';
COMMENT ON COLUMN work_plane.item_state_intervals.gone_at IS 'Set when the item is deleted or archived in Plane';

CREATE VIEW work_plane.item_lead_times WITH (security_invoker = true) AS
WITH per_item AS (
  SELECT iv.workspace_slug, iv.plane_id,
         min(iv.entered_at) FILTER (WHERE iv.state_group = 'started') AS started_at,
         (array_agg(iv.first_observation ORDER BY iv.entered_at) FILTER (WHERE iv.state_group = 'started'))[1]
           AS started_at_first_observation,
         max(iv.entered_at) FILTER (WHERE iv.state_group = 'completed') AS completed_entered_at
    FROM work_plane.item_state_intervals iv
   GROUP BY iv.workspace_slug, iv.plane_id
)
SELECT i.workspace_slug, i.plane_id, p.identifier || '-' || i.sequence_id AS key, i.name,
       i.project_plane_id, i.plane_created_at AS created_at, x.started_at,
       coalesce(x.started_at_first_observation, false) AS started_at_first_observation,
       coalesce(i.completed_at, x.completed_entered_at) AS completed_at,
       coalesce(i.completed_at, x.completed_entered_at) - i.plane_created_at AS lead_time,
       CASE WHEN x.started_at <= coalesce(i.completed_at, x.completed_entered_at)
            THEN coalesce(i.completed_at, x.completed_entered_at) - x.started_at END AS cycle_time,
       i.gone_at
  FROM work_plane.items i
  JOIN work_plane.states s ON s.workspace_slug = i.workspace_slug AND s.plane_id = i.state_plane_id
  LEFT JOIN work_plane.projects p ON p.workspace_slug = i.workspace_slug AND p.plane_id = i.project_plane_id
  LEFT JOIN per_item x ON x.workspace_slug = i.workspace_slug AND x.plane_id = i.plane_id
 WHERE i.item_type = 'issue' AND s."group" = 'completed';
COMMENT ON VIEW work_plane.item_lead_times IS
  'Lead time (created → completed) and cycle time (first started → completed) of every completed work item. Readable under row-level security';
COMMENT ON COLUMN work_plane.item_lead_times.workspace_slug IS 'Workspace';
COMMENT ON COLUMN work_plane.item_lead_times.plane_id IS 'Work item id';
COMMENT ON COLUMN work_plane.item_lead_times.key IS 'Work item key (PROJ-12)';
COMMENT ON COLUMN work_plane.item_lead_times.name IS 'Work item title';
COMMENT ON COLUMN work_plane.item_lead_times.project_plane_id IS 'Project id';
COMMENT ON COLUMN work_plane.item_lead_times.created_at IS 'Created in Plane';
COMMENT ON COLUMN work_plane.item_lead_times.started_at IS
  'First entry into a state of the started group seen by the history; NULL when the item was never seen started';
COMMENT ON COLUMN work_plane.item_lead_times.started_at_first_observation IS
  'started_at is the mirror''s first observation of the item, already started: the real start was earlier';
COMMENT ON COLUMN work_plane.item_lead_times.completed_at IS 'Plane''s completed_at (else the last entry into a completed state)';
COMMENT ON COLUMN work_plane.item_lead_times.lead_time IS 'completed_at - created_at';
COMMENT ON COLUMN work_plane.item_lead_times.cycle_time IS 'completed_at - started_at; NULL when started_at is unknown';
COMMENT ON COLUMN work_plane.item_lead_times.gone_at IS 'Set when the item is deleted or archived in Plane';

CREATE VIEW work_plane.project_weekly_throughput WITH (security_invoker = true) AS
WITH zones AS MATERIALIZED (
  SELECT p.workspace_slug, p.plane_id, p.identifier, p.name, work_plane._time_zone(p.timezone) AS tz
    FROM work_plane.projects p
   WHERE p.gone_at IS NULL
), done AS (
  SELECT z.workspace_slug, z.plane_id,
         date_trunc('week', i.completed_at AT TIME ZONE z.tz)::date AS week_start, count(*) AS completed_items
    FROM work_plane.items i
    JOIN zones z ON z.workspace_slug = i.workspace_slug AND z.plane_id = i.project_plane_id
   WHERE i.item_type = 'issue' AND i.completed_at IS NOT NULL
   GROUP BY 1, 2, 3
), weeks AS (
  SELECT z.workspace_slug, z.plane_id, z.identifier, z.name, w::date AS week_start
    FROM zones z
    JOIN (SELECT d.workspace_slug, d.plane_id, min(d.week_start) AS first_week FROM done d GROUP BY 1, 2) f
      ON f.workspace_slug = z.workspace_slug AND f.plane_id = z.plane_id
   CROSS JOIN LATERAL generate_series(f.first_week::timestamp, date_trunc('week', now() AT TIME ZONE z.tz),
                                      interval '1 week') AS w
)
SELECT w.workspace_slug, w.plane_id AS project_plane_id, w.identifier AS project_identifier,
       w.name AS project_name, w.week_start, coalesce(d.completed_items, 0) AS completed_items
  FROM weeks w
  LEFT JOIN done d ON d.workspace_slug = w.workspace_slug AND d.plane_id = w.plane_id AND d.week_start = w.week_start;
COMMENT ON VIEW work_plane.project_weekly_throughput IS
  'Work items completed per project and week (Monday in the project''s time zone), from the project''s first completion to this week, weeks without completions included. Readable under row-level security';
COMMENT ON COLUMN work_plane.project_weekly_throughput.workspace_slug IS 'Workspace';
COMMENT ON COLUMN work_plane.project_weekly_throughput.project_plane_id IS 'Project id';
COMMENT ON COLUMN work_plane.project_weekly_throughput.project_identifier IS 'Project identifier (the key prefix)';
COMMENT ON COLUMN work_plane.project_weekly_throughput.project_name IS 'Project name';
COMMENT ON COLUMN work_plane.project_weekly_throughput.week_start IS 'Monday of the week, in the project''s time zone';
COMMENT ON COLUMN work_plane.project_weekly_throughput.completed_items IS
  'Work items whose completed_at falls in the week (archived ones included; reopened ones, whose completed_at Plane clears, not)';

CREATE VIEW work_plane.cycle_burndown WITH (security_invoker = true) AS
WITH zones AS MATERIALIZED (
  SELECT p.workspace_slug, p.plane_id, work_plane._time_zone(p.timezone) AS tz FROM work_plane.projects p
), cycles AS (
  SELECT c.workspace_slug, c.plane_id AS cycle_plane_id, c.name AS cycle_name, c.project_plane_id,
         coalesce(z.tz, 'UTC') AS tz,
         coalesce((c.starts_at AT TIME ZONE coalesce(z.tz, 'UTC'))::date, c.start_date) AS first_day,
         coalesce((c.ends_at AT TIME ZONE coalesce(z.tz, 'UTC'))::date, c.target_date) AS last_day
    FROM work_plane.items c
    LEFT JOIN zones z ON z.workspace_slug = c.workspace_slug AND z.plane_id = c.project_plane_id
   WHERE c.item_type = 'cycle' AND c.gone_at IS NULL
), days AS (
  SELECT c.*, d::date AS day,
         d::timestamp AT TIME ZONE c.tz AS day_start,
         least((d::date + 1)::timestamp AT TIME ZONE c.tz, now()) AS at
    FROM cycles c
   CROSS JOIN LATERAL generate_series(c.first_day::timestamp, c.last_day::timestamp, interval '1 day') AS d
   WHERE c.first_day IS NOT NULL AND c.last_day IS NOT NULL AND c.last_day - c.first_day <= 366
), events AS (
  SELECT h.workspace_slug, h.plane_id, h.id, h.field, coalesce(h.plane_updated_at, h.recorded_at) AS at,
         h.old_value, h.new_value, i.plane_created_at, i.completed_at, i.gone_at
    FROM work_plane.item_history h
    JOIN work_plane.items i ON i.workspace_slug = h.workspace_slug AND i.plane_id = h.plane_id
   WHERE h.field IN ('observed', 'cycle', 'state')
), cycle_events AS (
  SELECT e.*, lead(e.at) OVER w AS next_at, row_number() OVER w AS n
    FROM events e WHERE e.field IN ('observed', 'cycle')
  WINDOW w AS (PARTITION BY e.workspace_slug, e.plane_id ORDER BY e.at, e.id)
), membership AS (
  -- The cycle a work item was in, and when. Before its first observation an item is taken to
  -- have been in the cycle it was first seen in since it was created.
  SELECT e.workspace_slug, e.plane_id, e.gone_at,
         CASE WHEN e.field = 'observed' THEN e.new_value ->> 'cycle' ELSE e.new_value #>> '{}' END AS cycle_plane_id,
         CASE WHEN e.field = 'observed' THEN least(e.plane_created_at, e.at) ELSE e.at END AS valid_from,
         e.next_at AS valid_to
    FROM cycle_events e
  UNION ALL
  SELECT e.workspace_slug, e.plane_id, e.gone_at, e.old_value #>> '{}', NULL, e.at
    FROM cycle_events e
   WHERE e.n = 1 AND e.field = 'cycle' AND e.old_value #>> '{}' IS NOT NULL
), state_events AS (
  SELECT e.*, lead(e.at) OVER w AS next_at, row_number() OVER w AS n,
         s."group" AS state_group, so."group" AS old_state_group
    FROM events e
    LEFT JOIN work_plane.states s
      ON s.workspace_slug = e.workspace_slug
     AND s.plane_id = CASE WHEN e.field = 'observed' THEN e.new_value ->> 'state' ELSE e.new_value #>> '{}' END
    LEFT JOIN work_plane.states so
      ON so.workspace_slug = e.workspace_slug AND e.field = 'state' AND so.plane_id = e.old_value #>> '{}'
   WHERE e.field IN ('observed', 'state')
  WINDOW w AS (PARTITION BY e.workspace_slug, e.plane_id ORDER BY e.at, e.id)
), progress AS (
  -- Whether a work item was open, completed or cancelled, and when. Before its first observation
  -- an item was open (since its creation) until Plane's completed_at if it was first seen
  -- completed, else until it was first seen closed.
  SELECT e.workspace_slug, e.plane_id, g.status, g.valid_from, g.valid_to
    FROM state_events e
   CROSS JOIN LATERAL (
     SELECT CASE WHEN e.state_group IN ('completed', 'cancelled') THEN e.state_group ELSE 'open' END AS status,
            CASE WHEN e.field <> 'observed' OR e.state_group NOT IN ('completed', 'cancelled')
                   THEN CASE WHEN e.field = 'observed' THEN least(e.plane_created_at, e.at) ELSE e.at END
                 WHEN e.state_group = 'completed' AND e.completed_at <= e.at THEN e.completed_at
                 ELSE e.at END AS valid_from,
            e.next_at AS valid_to
     UNION ALL
     SELECT 'open', e.plane_created_at,
            CASE WHEN e.state_group = 'completed' AND e.completed_at <= e.at THEN e.completed_at ELSE e.at END
      WHERE e.field = 'observed' AND e.state_group IN ('completed', 'cancelled')
   ) AS g
  UNION ALL
  -- History pruned: before the earliest change kept, the state it changed from.
  SELECT e.workspace_slug, e.plane_id,
         CASE WHEN e.old_state_group IN ('completed', 'cancelled') THEN e.old_state_group ELSE 'open' END,
         NULL, e.at
    FROM state_events e
   WHERE e.n = 1 AND e.field = 'state'
)
SELECT d.workspace_slug, d.cycle_plane_id, d.cycle_name, d.project_plane_id, d.day,
       CASE WHEN d.day_start <= now() THEN count(DISTINCT m.plane_id) FILTER (WHERE coalesce(g.status, 'open') <> 'cancelled') END AS scope,
       CASE WHEN d.day_start <= now() THEN count(DISTINCT m.plane_id) FILTER (WHERE g.status = 'completed') END AS completed,
       CASE WHEN d.day_start <= now() THEN count(DISTINCT m.plane_id) FILTER (WHERE coalesce(g.status, 'open') = 'open') END AS remaining
  FROM days d
  LEFT JOIN membership m
    ON m.workspace_slug = d.workspace_slug AND m.cycle_plane_id = d.cycle_plane_id
   AND (m.valid_from IS NULL OR m.valid_from <= d.at) AND (m.valid_to IS NULL OR d.at < m.valid_to)
   AND (m.gone_at IS NULL OR d.at < m.gone_at)
  LEFT JOIN progress g
    ON g.workspace_slug = m.workspace_slug AND g.plane_id = m.plane_id
   AND (g.valid_from IS NULL OR g.valid_from <= d.at) AND (g.valid_to IS NULL OR d.at < g.valid_to)
 GROUP BY d.workspace_slug, d.cycle_plane_id, d.cycle_name, d.project_plane_id, d.day, d.day_start;
COMMENT ON VIEW work_plane.cycle_burndown IS
  'Burn-down per cycle and day (the project''s time zone): work items in the cycle at the end of the day (now, today), completed and remaining, from the change history. Readable under row-level security';
COMMENT ON COLUMN work_plane.cycle_burndown.workspace_slug IS 'Workspace';
COMMENT ON COLUMN work_plane.cycle_burndown.cycle_plane_id IS 'Cycle id';
COMMENT ON COLUMN work_plane.cycle_burndown.cycle_name IS 'Cycle name';
COMMENT ON COLUMN work_plane.cycle_burndown.project_plane_id IS 'Project id';
COMMENT ON COLUMN work_plane.cycle_burndown.day IS 'A day of the cycle, start to end date inclusive';
COMMENT ON COLUMN work_plane.cycle_burndown.scope IS
  'Work items in the cycle at the end of the day, cancelled ones not counted; NULL for days to come';
COMMENT ON COLUMN work_plane.cycle_burndown.completed IS 'Of those, in a completed state';
COMMENT ON COLUMN work_plane.cycle_burndown.remaining IS 'Of those, neither completed nor cancelled: scope - completed';

-------------------------------------------------------------------------------------------------
-- Row-level security and privileges of the new objects: as the mirror's (tenant_read).
-------------------------------------------------------------------------------------------------
DO $plane$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['search_documents', 'search_terms', 'content_chunks', 'item_history'] LOOP
    EXECUTE format('ALTER TABLE work_plane.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_read ON work_plane.%I FOR SELECT USING (
        pg_has_role(current_user, 'plane_connector_admin', 'MEMBER')
        OR EXISTS (SELECT 1 FROM work_plane.workspace_access a
                    WHERE a.workspace_slug = %I.workspace_slug
                      AND pg_has_role(current_user, a.role_name, 'MEMBER')))$p$, t, t);
  END LOOP;
END
$plane$;

REVOKE ALL ON work_plane.search_documents, work_plane.search_terms, work_plane.content_chunks, work_plane.item_history,
              work_plane.workspace_urls, work_plane.item_state_intervals, work_plane.item_lead_times,
              work_plane.project_weekly_throughput, work_plane.cycle_burndown
  FROM PUBLIC;
REVOKE ALL ON FUNCTION
  work_plane.html_to_text(text), work_plane.html_chunks(text, int, int),
  work_plane._parser_start(internal, int), work_plane._parser_gettoken(internal, internal, internal),
  work_plane._parser_end(internal), work_plane._search_config(), work_plane._fold(text),
  work_plane._trgm_similar(text, text), work_plane._similarity(text, text), work_plane._tsvector_head(tsvector, int),
  work_plane._ts_match(tsvector, tsquery), work_plane._search_vector(regconfig, text, text),
  work_plane._item_kind(text), work_plane._sha256_hex(text),
  work_plane._items_inserted(), work_plane._items_updated(), work_plane._items_deleted(),
  work_plane._items_truncated(), work_plane._pages_inserted(), work_plane._pages_updated(),
  work_plane._pages_deleted(), work_plane._pages_truncated(),
  work_plane.rebuild_search_index(), work_plane.rebuild_content_chunks(), work_plane.prune_history(),
  work_plane._web_base_url(text), work_plane._reads_workspace(text),
  work_plane.search(text, text, text[], int), work_plane._time_zone(text),
  work_plane._text_hits(tsquery, text, text[], int, real, real, text)
  FROM PUBLIC;

GRANT SELECT ON work_plane.search_documents, work_plane.search_terms, work_plane.content_chunks, work_plane.item_history,
                work_plane.workspace_urls, work_plane.item_state_intervals, work_plane.item_lead_times,
                work_plane.project_weekly_throughput, work_plane.cycle_burndown
  TO plane_connector_reader, plane_connector_admin;
-- What search() and the views call as the user querying them. The text-search parser's
-- functions are called by to_tsvector and ts_headline without a privilege check.
GRANT EXECUTE ON FUNCTION
  work_plane.search(text, text, text[], int), work_plane.html_to_text(text),
  work_plane.html_chunks(text, int, int), work_plane._search_config(), work_plane._fold(text),
  work_plane._trgm_similar(text, text), work_plane._similarity(text, text), work_plane._tsvector_head(tsvector, int),
  work_plane._ts_match(tsvector, tsquery), work_plane._web_base_url(text),
  work_plane._reads_workspace(text), work_plane._time_zone(text),
  work_plane._text_hits(tsquery, text, text[], int, real, real, text)
  TO plane_connector_reader, plane_connector_admin;
GRANT EXECUTE ON FUNCTION work_plane.rebuild_search_index(), work_plane.rebuild_content_chunks(),
                          work_plane.prune_history()
  TO plane_connector_admin;

-------------------------------------------------------------------------------------------------
-- The plain text of what 0.1.0 mirrored, filled without the triggers (they would record the fill
-- as changes); then the derived tables are built from it below.
-------------------------------------------------------------------------------------------------
ALTER TABLE work_plane.items DISABLE TRIGGER USER;
ALTER TABLE work_plane.pages DISABLE TRIGGER USER;
UPDATE work_plane.items SET description_text = work_plane.html_to_text(raw ->> 'description_html')
 WHERE item_type = 'issue' AND raw ? 'description_html';
UPDATE work_plane.pages SET content_text = work_plane.html_to_text(raw ->> 'description_html')
 WHERE raw ? 'description_html';
ALTER TABLE work_plane.items ENABLE TRIGGER USER;
ALTER TABLE work_plane.pages ENABLE TRIGGER USER;

-------------------------------------------------------------------------------------------------
-- Upgrade from 0.1.0: index what is already mirrored and record
-- the first observation of every work item.
-------------------------------------------------------------------------------------------------
SELECT work_plane.rebuild_search_index() WHERE EXISTS (SELECT 1 FROM work_plane.items)
                                             OR EXISTS (SELECT 1 FROM work_plane.pages);
SELECT work_plane.rebuild_content_chunks() WHERE EXISTS (SELECT 1 FROM work_plane.items)
                                               OR EXISTS (SELECT 1 FROM work_plane.pages);
INSERT INTO work_plane.item_history (workspace_slug, plane_id, project_plane_id, field, new_value, plane_updated_at, source)
SELECT i.workspace_slug, i.plane_id, i.project_plane_id, 'observed',
       pg_catalog.jsonb_build_object('state', i.state_plane_id, 'priority', i.priority,
         'assignees', i.assignee_ids, 'labels', i.label_ids, 'cycle', i.cycle_plane_id,
         'modules', i.module_ids, 'parent', i.parent_plane_id),
       i.plane_updated_at, 'upgrade'
  FROM work_plane.items i
 WHERE i.item_type = 'issue'
   AND NOT EXISTS (SELECT 1 FROM work_plane.item_history h
                    WHERE h.workspace_slug = i.workspace_slug AND h.plane_id = i.plane_id);

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
SELECT pg_catalog.pg_extension_config_dump('work_plane.item_history', '');
SELECT pg_catalog.pg_extension_config_dump('ops.run_events', '');
SELECT pg_catalog.pg_extension_config_dump('ops.event_queue',
  $$WHERE source <> 'plane' OR status IN ('pending', 'processing', 'dead')$$);
-- The identity sequences too (members of the extension, so pg_dump leaves them out unless marked):
-- without their values a restored database hands out ids its restored rows already hold.
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('work_plane.pending_changes', 'id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ops.event_queue', 'id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ops.run_events', 'id')::pg_catalog.regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('work_plane.item_history', 'id')::pg_catalog.regclass, '');

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
