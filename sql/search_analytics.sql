-- Search, content chunks, change history and the analytics views of the 0.2.0 extension script.
--
-- The extension (0.2.0, created by setup) is used as installed. Rows reach the mirror through
-- pg_temp.upsert_items/upsert_pages: one INSERT … ON CONFLICT DO UPDATE … WHERE never-older
-- statement per call, the shape of the sync's generated upsert, filling
-- description_text/content_text with work_plane.html_to_text.
\set VERBOSITY terse
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';
SET IntervalStyle = 'postgres';
RESET client_min_messages;

-------------------------------------------------------------------------------------------------
-- HTML → text and chunks.
-------------------------------------------------------------------------------------------------
SELECT work_plane.html_to_text('<p>Users get <strong>logged out</strong> after 5&nbsp;min.</p>'
  || '<ul><li><p>Open the app</p></li><li><p>Wait &amp; reload</p></li></ul><h2>Expected</h2>'
  || '<p>See <code>auth.ts</code>, cc <mention-component label="Ann"></mention-component></p>'
  || '<script>alert(1)</script><p>Größe 検索 🚀</p>') AS text;
SELECT work_plane.html_to_text(''), work_plane.html_to_text('<p></p>'), work_plane.html_to_text(NULL);
SELECT chunk_no, heading_path, length(content) <= 120 AS fits, left(content, 30) AS starts
  FROM work_plane.html_chunks('<h1>Guide</h1><p>' || repeat('Install the agent first. ', 12)
                              || '</p><h2>Setup</h2><p>Run it.</p>', 120, 20);
SELECT * FROM work_plane.html_chunks('<p>x</p>', 100, 51);
SELECT * FROM work_plane.html_chunks('<p>x</p>', 0, 0);

-------------------------------------------------------------------------------------------------
-- A mirror built through upserts shaped like the sync's.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.upsert_items(slug text, rows jsonb, source text) RETURNS void
LANGUAGE sql AS $$
INSERT INTO work_plane.items AS t (workspace_slug, plane_id, item_type, project_plane_id, name, sequence_id,
       state_plane_id, priority, parent_plane_id, assignee_ids, label_ids, start_date, target_date,
       starts_at, ends_at, completed_at, plane_created_at, plane_updated_at, description_text,
       cycle_plane_id, module_ids, change_source, raw, synced_at, gone_at)
SELECT slug, r->>'id', coalesce(r->>'type', 'issue'), r->>'project', r->>'name', (r->>'sequence_id')::int,
       r->>'state', r->>'priority', r->>'parent',
       coalesce(ARRAY(SELECT jsonb_array_elements_text(r->'assignees')), '{}'),
       coalesce(ARRAY(SELECT jsonb_array_elements_text(r->'labels')), '{}'),
       (r->>'start_date')::date, (r->>'end_date')::date, (r->>'starts_at')::timestamptz,
       (r->>'ends_at')::timestamptz, (r->>'completed_at')::timestamptz, (r->>'created_at')::timestamptz,
       (r->>'updated_at')::timestamptz, work_plane.html_to_text(r->>'description_html'), r->>'cycle',
       coalesce(ARRAY(SELECT jsonb_array_elements_text(r->'modules')), '{}'), source, r, now(), NULL
  FROM jsonb_array_elements(rows) r
ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET item_type = excluded.item_type,
       project_plane_id = excluded.project_plane_id, name = excluded.name, sequence_id = excluded.sequence_id,
       state_plane_id = excluded.state_plane_id, priority = excluded.priority,
       parent_plane_id = excluded.parent_plane_id, assignee_ids = excluded.assignee_ids,
       label_ids = excluded.label_ids, start_date = excluded.start_date, target_date = excluded.target_date,
       starts_at = excluded.starts_at, ends_at = excluded.ends_at, completed_at = excluded.completed_at,
       plane_created_at = excluded.plane_created_at, plane_updated_at = excluded.plane_updated_at,
       description_text = excluded.description_text, cycle_plane_id = excluded.cycle_plane_id,
       module_ids = excluded.module_ids, change_source = excluded.change_source, raw = excluded.raw,
       synced_at = excluded.synced_at, gone_at = NULL
 WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL
    OR excluded.plane_updated_at >= t.plane_updated_at
$$;
CREATE FUNCTION pg_temp.upsert_pages(slug text, rows jsonb, source text) RETURNS void
LANGUAGE sql AS $$
INSERT INTO work_plane.pages AS t (workspace_slug, plane_id, project_plane_id, name, plane_created_at,
       plane_updated_at, content_text, change_source, raw, synced_at, gone_at)
SELECT slug, r->>'id', r->>'project', r->>'name', (r->>'created_at')::timestamptz, (r->>'updated_at')::timestamptz,
       work_plane.html_to_text(r->>'description_html'), source, r, now(), NULL
  FROM jsonb_array_elements(rows) r
ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET project_plane_id = excluded.project_plane_id,
       name = excluded.name, plane_created_at = excluded.plane_created_at,
       plane_updated_at = excluded.plane_updated_at, content_text = excluded.content_text,
       change_source = excluded.change_source, raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL
 WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL
    OR excluded.plane_updated_at >= t.plane_updated_at
$$;

INSERT INTO work_plane.installations (workspace_slug, api_url) VALUES
  ('acme', NULL), ('globex', 'https://plane.globex.example:8443/api');
INSERT INTO work_plane.projects (workspace_slug, plane_id, name, identifier, timezone, raw) VALUES
  ('acme', 'p-api', 'API', 'API', 'UTC', '{}'), ('acme', 'p-web', 'Web', 'WEB', 'Mars/Olympus', '{}'),
  ('globex', 'p-glx', 'Globex', 'GLX', NULL, '{}');
INSERT INTO work_plane.states (workspace_slug, plane_id, project_plane_id, name, "group", raw) VALUES
  ('acme', 's-backlog', 'p-api', 'Backlog', 'backlog', '{}'), ('acme', 's-doing', 'p-api', 'In Progress', 'started', '{}'),
  ('acme', 's-review', 'p-api', 'In Review', 'started', '{}'), ('acme', 's-done', 'p-api', 'Done', 'completed', '{}'),
  ('acme', 's-cancel', 'p-api', 'Cancelled', 'cancelled', '{}');

SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i1", "project": "p-api", "sequence_id": 1, "name": "Login timeout on Safari",
   "description_html": "<p>Users are logged out after five minutes.</p>", "state": "s-backlog", "priority": "high",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-01T10:00:00Z", "cycle": "c1"},
  {"id": "i2", "project": "p-api", "sequence_id": 2, "name": "Session cookie settings",
   "description_html": "<p>The login timeout comes from the cookie max-age; see the login timeout doc.</p>",
   "state": "s-backlog", "priority": "medium", "created_at": "2024-03-06T08:00:00Z", "updated_at": "2024-03-06T08:00:00Z"},
  {"id": "i3", "project": "p-api", "sequence_id": 3, "name": "Dashboard widgets load slowly",
   "description_html": "<p>Every widget queries on its own.</p>", "state": "s-backlog", "priority": "low",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-01T10:00:00Z", "cycle": "c1"},
  {"id": "i4", "project": "p-web", "sequence_id": 16, "name": "Café menu prices",
   "description_html": "<p>Die Größenänderung des Fensters bricht das Layout.</p>", "state": "s-backlog",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-01T10:00:00Z", "assignees": ["u1", "u2"]},
  {"id": "c1", "type": "cycle", "project": "p-api", "name": "Sprint 10",
   "starts_at": "2024-03-04T00:00:01Z", "ends_at": "2024-03-08T23:59:00Z", "start_date": "2024-03-04", "end_date": "2024-03-08",
   "created_at": "2024-02-20T10:00:00Z", "updated_at": "2024-02-20T10:00:00Z"}]$j$, 'sync');
SELECT pg_temp.upsert_items('globex', $j$[
  {"id": "g1", "project": "p-glx", "sequence_id": 1, "name": "Login timeout in the portal",
   "description_html": "<p>Same login timeout here.</p>", "created_at": "2024-03-01T10:00:00Z",
   "updated_at": "2024-03-01T10:00:00Z"}]$j$, 'sync');
SELECT pg_temp.upsert_pages('acme', $j$[
  {"id": "pg1", "name": "Runbook", "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-01T10:00:00Z",
   "description_html": "<h1>Runbook</h1><h2>Login</h2><p>When the login timeout fires, restart the session service.</p>"},
  {"id": "pg2", "project": "p-api", "name": "検索の設計", "created_at": "2024-03-01T10:00:00Z",
   "updated_at": "2024-03-01T10:00:00Z", "description_html": "<p>検索機能の改善について。全文検索を使う。</p>"}]$j$, 'sync');

-- Every searchable row has a document, kept by the upsert's own statement.
SELECT workspace_slug, kind, plane_id, title, rank_vector IS NULL AS short FROM work_plane.search_documents ORDER BY 1, 2, 3;
SELECT workspace_slug, term FROM work_plane.search_terms ORDER BY 1, 2;

-------------------------------------------------------------------------------------------------
-- Search.
-------------------------------------------------------------------------------------------------
-- Title over body: i1 has the words in its title, i2 and the runbook only in the body.
SELECT kind, plane_id, key, title, snippet, rank > 1 AS text_hit, url, workspace, matched_by
  FROM work_plane.search('login timeout');
-- An exact key ranks first, in any case; the rest of the query still ranks the others.
SELECT plane_id, key, matched_by, rank >= 2 AS first FROM work_plane.search('API-2');
SELECT plane_id, key, matched_by FROM work_plane.search('api-2 login timeout', max_results => 2);
SELECT plane_id, matched_by FROM work_plane.search('mentions of GLX-1');
SELECT plane_id, key, url FROM work_plane.search('WEB-16');
-- Typos in titles.
SELECT plane_id, title, matched_by, rank < 1 AS below_text_hits FROM work_plane.search('dashbord widgtes');
-- Accents do not matter, either way round; German and CJK text.
SELECT plane_id, title FROM work_plane.search('cafe');
SELECT plane_id, title FROM work_plane.search('CAFÉ MENÜ');
SELECT plane_id, snippet FROM work_plane.search('Grössenänderung');
SELECT plane_id, title, snippet FROM work_plane.search('検索');
SELECT plane_id FROM work_plane.search('機能の改善');
SELECT plane_id FROM work_plane.search('検索改革');
-- Web-search syntax: a quoted phrase, an excluded word, or.
SELECT plane_id, matched_by FROM work_plane.search('"timeout on safari"');
SELECT plane_id, matched_by FROM work_plane.search('"safari on timeout" -portal');
SELECT plane_id, matched_by FROM work_plane.search('login timeout -safari');
SELECT plane_id FROM work_plane.search('widgets or cookie');
-- Filters, limits, odd input.
SELECT kind, plane_id FROM work_plane.search('login', kinds => '{page}');
SELECT plane_id, workspace FROM work_plane.search('login timeout', workspace_slug => 'globex');
SELECT count(*) FROM work_plane.search('login timeout', max_results => 1);
SELECT count(*) FROM work_plane.search('');
SELECT count(*) FROM work_plane.search('?!*');
SELECT count(*) FROM work_plane.search(NULL);
SELECT count(*) FROM work_plane.search('login', kinds => '{issue}');
-- Wiki and project pages, cycles; a self-hosted workspace links to its own host.
SELECT kind, plane_id, url FROM work_plane.search('runbook or 全文検索 or sprint') ORDER BY plane_id;
SELECT url FROM work_plane.search('portal');

-------------------------------------------------------------------------------------------------
-- Row-level security: a reader granted one workspace finds only it, through the indexes.
-------------------------------------------------------------------------------------------------
CREATE ROLE plane_test_reader IN ROLE plane_connector_reader;
CREATE ROLE plane_test_outsider;
INSERT INTO work_plane.workspace_access VALUES ('plane_test_reader', 'globex');
SET ROLE plane_test_reader;
SELECT plane_id, workspace, url FROM work_plane.search('login timeout');
SELECT plane_id FROM work_plane.search('API-1');
SELECT count(*) FROM work_plane.search_documents;
SELECT DISTINCT workspace_slug FROM work_plane.item_history;
SELECT count(*) FROM work_plane.content_chunks WHERE workspace_slug = 'acme';
SELECT * FROM work_plane.workspace_urls;
SET enable_seqscan = off;
-- The leakproof operators let the planner use the indexes beneath the policy ...
EXPLAIN (COSTS OFF) SELECT plane_id FROM work_plane.search_documents
 WHERE document OPERATOR(work_plane.@@) websearch_to_tsquery('work_plane.plane_search', 'login');
EXPLAIN (COSTS OFF) SELECT term FROM work_plane.search_terms WHERE term OPERATOR(work_plane.%) 'portl';
-- ... which it cannot with the built-in @@, whose function is not leakproof.
EXPLAIN (COSTS OFF) SELECT plane_id FROM work_plane.search_documents
 WHERE document @@ websearch_to_tsquery('work_plane.plane_search', 'login');
RESET enable_seqscan;
SELECT work_plane.rebuild_search_index();
RESET ROLE;
SET ROLE plane_test_outsider;
SELECT count(*) FROM work_plane.search('login');
RESET ROLE;
-- Nothing new is executable by PUBLIC.
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'work_plane' AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1;
-- Trigger functions pin their search_path.
SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'work_plane' AND p.prorettype = 'trigger'::regtype ORDER BY 1;

-------------------------------------------------------------------------------------------------
-- History: recorded by the upsert's statement, with Plane's updated_at and the source.
-------------------------------------------------------------------------------------------------
SELECT plane_id, field, new_value, plane_updated_at, source FROM work_plane.item_history ORDER BY id;
-- A state change from a webhook.
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i1", "project": "p-api", "sequence_id": 1, "name": "Login timeout on Safari",
   "description_html": "<p>Users are logged out after five minutes.</p>", "state": "s-doing", "priority": "high",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-05T09:00:00Z", "cycle": "c1"}]$j$, 'webhook');
SELECT plane_id, field, old_value, new_value, plane_updated_at, source
  FROM work_plane.item_history WHERE field <> 'observed' ORDER BY id;
-- Nothing tracked changed (a new title, assignees reordered): no row; an older version: no row.
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i4", "project": "p-web", "sequence_id": 16, "name": "Café menu prices (draft)",
   "description_html": "<p>Die Größenänderung des Fensters bricht das Layout.</p>", "state": "s-backlog",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-02T10:00:00Z", "assignees": ["u2", "u1"]}]$j$, 'sync');
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i1", "project": "p-api", "sequence_id": 1, "name": "Login timeout on Safari",
   "description_html": "<p>Users are logged out after five minutes.</p>", "state": "s-backlog", "priority": "high",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-04T09:00:00Z", "cycle": "c1"}]$j$, 'refresh');
SELECT count(*) AS changes FROM work_plane.item_history WHERE field <> 'observed';
SELECT name, state_plane_id FROM work_plane.items WHERE plane_id IN ('i1', 'i4') ORDER BY plane_id;
-- Several fields at once: one row each.
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i4", "project": "p-web", "sequence_id": 16, "name": "Café menu prices (draft)",
   "description_html": "<p>Die Größenänderung des Fensters bricht das Layout.</p>", "state": "s-backlog",
   "priority": "urgent", "parent": "i3", "labels": ["bug"], "modules": ["m1"],
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-03T10:00:00Z", "assignees": ["u1"]}]$j$, 'writeback');
SELECT field, old_value, new_value, source FROM work_plane.item_history
 WHERE plane_id = 'i4' AND field <> 'observed' ORDER BY field;

-- The rest of the sprint: i3 cancelled, i2 added to the cycle mid-sprint, i1 completed.
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i3", "project": "p-api", "sequence_id": 3, "name": "Dashboard widgets load slowly",
   "description_html": "<p>Every widget queries on its own.</p>", "state": "s-cancel", "priority": "low",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-05T10:00:00Z", "cycle": "c1"}]$j$, 'webhook');
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i2", "project": "p-api", "sequence_id": 2, "name": "Session cookie settings",
   "description_html": "<p>The login timeout comes from the cookie max-age; see the login timeout doc.</p>",
   "state": "s-backlog", "priority": "medium", "created_at": "2024-03-06T08:00:00Z",
   "updated_at": "2024-03-06T12:00:00Z", "cycle": "c1"}]$j$, 'webhook');
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i1", "project": "p-api", "sequence_id": 1, "name": "Login timeout on Safari",
   "description_html": "<p>Users are logged out after five minutes.</p>", "state": "s-review", "priority": "high",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-06T16:00:00Z", "cycle": "c1"}]$j$, 'webhook');
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i1", "project": "p-api", "sequence_id": 1, "name": "Login timeout on Safari",
   "description_html": "<p>Users are logged out after five minutes.</p>", "state": "s-done", "priority": "high",
   "created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-07T15:00:00Z", "completed_at": "2024-03-07T15:00:00Z",
   "cycle": "c1"}]$j$, 'sync');

-------------------------------------------------------------------------------------------------
-- The views, on that sprint.
-------------------------------------------------------------------------------------------------
SELECT key, state_name, state_group, entered_at, left_at, CASE WHEN NOT is_current THEN duration END AS duration,
       is_current, first_observation
  FROM work_plane.item_state_intervals WHERE plane_id = 'i1' ORDER BY entered_at;
SELECT key, created_at, started_at, started_at_first_observation, completed_at, lead_time, cycle_time
  FROM work_plane.item_lead_times ORDER BY key;
SELECT project_identifier, week_start, completed_items FROM work_plane.project_weekly_throughput
 WHERE week_start <= '2024-03-18' ORDER BY 1, 2;
SELECT cycle_name, day, scope, completed, remaining FROM work_plane.cycle_burndown ORDER BY day;
-- A project's unknown time zone falls back to UTC instead of failing the view.
SELECT work_plane._time_zone('Mars/Olympus'), work_plane._time_zone('Asia/Kolkata'), work_plane._time_zone(NULL);
-- The views are readable by a reader, for its workspaces only.
SET ROLE plane_test_reader;
SELECT count(*) FROM work_plane.item_state_intervals;
SELECT count(*) FROM work_plane.cycle_burndown;
RESET ROLE;
-- Every view and every column is described for BI tools.
SELECT c.relname, count(*) FILTER (WHERE col_description(c.oid, a.attnum) IS NULL) AS undescribed,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS described
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'work_plane'
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relname IN ('item_state_intervals', 'item_lead_times', 'project_weekly_throughput', 'cycle_burndown')
 GROUP BY c.oid, c.relname ORDER BY 1;

-------------------------------------------------------------------------------------------------
-- Chunks: rewritten where the content changed, removed when a row goes, back when it returns.
-------------------------------------------------------------------------------------------------
SELECT kind, plane_id, chunk_no, heading_path, content FROM work_plane.content_chunks ORDER BY 1, 2, 3;
SELECT pg_temp.upsert_pages('acme', jsonb_build_array(jsonb_build_object(
  'id', 'pg3', 'name', 'Long page', 'created_at', '2024-03-01T10:00:00Z', 'updated_at', '2024-03-01T10:00:00Z',
  'description_html', '<h1>Part one</h1><p>' || repeat('Alpha beta gamma delta. ', 90) || '</p><h1>Part two</h1><p>'
                      || repeat('Epsilon zeta eta theta. ', 90) || '</p>')), 'sync');
CREATE TEMP TABLE chunks_before AS
  SELECT chunk_no, content_sha256 FROM work_plane.content_chunks WHERE plane_id = 'pg3';
SELECT chunk_no, heading_path, length(content) <= 1000 AS fits FROM work_plane.content_chunks
 WHERE plane_id = 'pg3' ORDER BY chunk_no;
SELECT pg_temp.upsert_pages('acme', jsonb_build_array(jsonb_build_object(
  'id', 'pg3', 'name', 'Long page', 'created_at', '2024-03-01T10:00:00Z', 'updated_at', '2024-03-02T10:00:00Z',
  'description_html', '<h1>Part one</h1><p>' || repeat('Alpha beta gamma delta. ', 90) || '</p><h1>Part two</h1><p>'
                      || 'Epsilon only now.</p>')), 'webhook');
SELECT c.chunk_no, c.content_sha256 = b.content_sha256 AS unchanged, c.chunk_no IS NULL AS removed
  FROM chunks_before b FULL JOIN (SELECT * FROM work_plane.content_chunks WHERE plane_id = 'pg3') c USING (chunk_no)
 ORDER BY coalesce(c.chunk_no, b.chunk_no);
SELECT chunk_no, content FROM work_plane.content_chunks WHERE plane_id = 'pg3' AND content LIKE 'Part two%';
UPDATE work_plane.pages SET gone_at = now() WHERE plane_id = 'pg3';
UPDATE work_plane.items SET gone_at = now() WHERE plane_id = 'i2';
SELECT count(*) FROM work_plane.content_chunks WHERE plane_id IN ('pg3', 'i2');
SELECT plane_id FROM work_plane.search('long page or cookie');
SELECT pg_temp.upsert_items('acme', $j$[
  {"id": "i2", "project": "p-api", "sequence_id": 2, "name": "Session cookie settings",
   "description_html": "<p>The login timeout comes from the cookie max-age; see the login timeout doc.</p>",
   "state": "s-backlog", "priority": "medium", "created_at": "2024-03-06T08:00:00Z",
   "updated_at": "2024-03-08T12:00:00Z", "cycle": "c1"}]$j$, 'refresh');
SELECT plane_id FROM work_plane.search('cookie');
SELECT count(*) FROM work_plane.content_chunks WHERE plane_id = 'i2';
-- Odd content never fails the upsert: empty, garbage, deep nesting, emoji only.
SELECT pg_temp.upsert_items('acme', jsonb_build_array(
  jsonb_build_object('id', 'o1', 'name', '', 'description_html', '', 'updated_at', '2024-03-01T10:00:00Z'),
  jsonb_build_object('id', 'o2', 'name', NULL, 'description_html', '<<<>>>&&&;</p></li><![CDATA[', 'updated_at', '2024-03-01T10:00:00Z'),
  jsonb_build_object('id', 'o3', 'name', '🚀🚀', 'description_html', repeat('<div>', 5000) || 'deep 🚀' || repeat('</div>', 5000),
                     'updated_at', '2024-03-01T10:00:00Z'),
  jsonb_build_object('id', 'o4', 'name', 'x', 'updated_at', '2024-03-01T10:00:00Z')), 'sync');
SELECT plane_id, description_text FROM work_plane.items WHERE plane_id LIKE 'o_' ORDER BY 1;
SELECT plane_id, count(*) FROM work_plane.content_chunks WHERE plane_id LIKE 'o_' GROUP BY 1 ORDER BY 1;

-------------------------------------------------------------------------------------------------
-- The search configuration is a setting; the index is rebuilt for it.
-------------------------------------------------------------------------------------------------
-- (the simple configuration does not stem: timeouts is found as a near spelling of a title word)
SELECT plane_id, matched_by FROM work_plane.search('timeouts') ORDER BY 1;
SET plane.search_config = 'english';
SELECT work_plane.rebuild_search_index() > 0 AS rebuilt;
SELECT plane_id, matched_by FROM work_plane.search('timeouts') ORDER BY 1;
SET plane.search_config = 'no_such_config';
SELECT work_plane._search_config();
SET plane.search_config = 'a.b.c';
RESET plane.search_config;
SELECT work_plane.rebuild_search_index() > 0 AS rebuilt;
SELECT plane_id, matched_by FROM work_plane.search('timeouts') ORDER BY 1;

-------------------------------------------------------------------------------------------------
-- Retention, deletion.
-------------------------------------------------------------------------------------------------
UPDATE work_plane.item_history SET recorded_at = now() - interval '3 years' WHERE plane_id = 'i4';
SELECT work_plane.prune_history() AS pruned;
SELECT count(*) AS left_for_i4 FROM work_plane.item_history WHERE plane_id = 'i4';
SELECT work_plane.remove_installation('globex');
SELECT count(*) FROM work_plane.search_documents WHERE workspace_slug = 'globex';
SELECT count(*) FROM work_plane.item_history WHERE workspace_slug = 'globex';
TRUNCATE work_plane.pages;
SELECT count(*) FROM work_plane.search_documents WHERE kind = 'page';

DROP ROLE plane_test_reader, plane_test_outsider;
DELETE FROM work_plane.installations;
