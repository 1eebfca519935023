-- The extension installs into a fresh database with everything the brief names.
CREATE EXTENSION plane_connector CASCADE;
SELECT extversion FROM pg_extension WHERE extname = 'plane_connector';
-- Tables and views of the SQL surface.
SELECT n.nspname, c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('work_plane', 'ops') AND c.relkind IN ('r', 'v')
 ORDER BY 1, 2;
-- Every mirror table has the columns users rely on.
SELECT c.relname,
       count(*) = 5 AS has_all,
       array_agg(a.attname ORDER BY a.attname) AS common_columns
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'work_plane'
  JOIN pg_attribute a ON a.attrelid = c.oid
       AND a.attname IN ('workspace_slug', 'plane_id', 'synced_at', 'raw', 'gone_at')
 WHERE c.relname IN ('projects', 'items', 'pages', 'states', 'labels')
 GROUP BY c.relname ORDER BY c.relname;
-- Nothing is granted to PUBLIC.
SELECT count(*) AS public_grants
  FROM information_schema.role_table_grants
 WHERE grantee = 'PUBLIC' AND table_schema IN ('work_plane', 'ops');
SELECT p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'work_plane' AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;
