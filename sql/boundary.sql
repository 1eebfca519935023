\set SHOW_CONTEXT never
-- The C++/Postgres exception boundary (src/pg/boundary.hpp).
-- A C++ exception thrown in a SQL function becomes a clean ERROR ...
SELECT work_plane._boundary_test('cpp_exception');
-- ... the session is usable afterwards ...
SELECT work_plane._boundary_test('pg_ok') AS forty_two;
-- ... and the C++ object that was live when it was thrown was destroyed.
SELECT work_plane._boundary_test('count') AS destructors_run;
-- A Postgres ERROR raised under C++ frames keeps its SQLSTATE and message ...
\set VERBOSITY default
DO $$
BEGIN
  PERFORM work_plane._boundary_test('pg_error');
EXCEPTION WHEN division_by_zero THEN
  RAISE NOTICE 'caught % with SQLSTATE %', SQLERRM, SQLSTATE;
END
$$;
-- ... and unwound those frames: their destructor ran too.
SELECT work_plane._boundary_test('count') AS destructors_run;
-- Errors inside a transaction leave it cleanly aborted, not corrupted.
BEGIN;
SELECT work_plane._boundary_test('pg_error');
SELECT 1;
ROLLBACK;
SELECT work_plane._boundary_test('no such mode');
SELECT work_plane._boundary_test('count') AS destructors_run;
