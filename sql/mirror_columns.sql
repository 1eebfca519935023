-- The mirror's typed columns are stated once, in src/core/mirror_schema.cpp: the upsert statements
-- are generated from it and the mappers fill exactly those keys. Here they are compared with the
-- extension script's tables, so that a column added, renamed or retyped on one side only fails.
\set VERBOSITY terse
-- Every column the C++ code writes exists, with that type: no row.
SELECT m.table_name, m.column_name, m.sql_type
  FROM work_plane._mirror_columns() m
  LEFT JOIN pg_attribute a ON a.attrelid = m.table_name::regclass AND a.attname = m.column_name
       AND NOT a.attisdropped
 WHERE a.attname IS NULL OR a.atttypid <> m.sql_type::regtype;
-- The table columns the C++ code does not map from Plane's objects: each is filled another way
-- (the upsert itself, the sync's access checks, writeback, defaults). A new column
-- shows up here until it is mapped or listed.
SELECT c.relname, a.attname
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'work_plane'
 WHERE c.relname IN ('projects', 'items', 'pages', 'states', 'labels')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND NOT EXISTS (SELECT 1 FROM work_plane._mirror_columns() m
                    WHERE m.table_name = 'work_plane.' || c.relname AND m.column_name = a.attname)
 ORDER BY 1, 2;
