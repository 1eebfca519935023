\set SHOW_CONTEXT never
-- The SQL functions DBAs call.
SELECT workspace_slug, api_url, writeback_policy FROM work_plane.add_installation('acme');
-- Idempotent: a second call updates, it does not fail or duplicate.
SELECT workspace_slug, api_url, space_id
  FROM work_plane.add_installation('acme', space_id => '6f1c7a52-2f0e-4b7e-9d2a-0c0f4c1e8a10',
                                   api_url => 'http://127.0.0.1:8080/');
SELECT count(*) FROM work_plane.installations;
-- Clear errors for bad input, and nothing changed.
SELECT work_plane.add_installation('no/slashes');
SELECT work_plane.add_installation(NULL);
SELECT work_plane.add_installation('beta', api_url => 'javascript:alert(1)');
SELECT count(*) FROM work_plane.installations;
-- sync_now: unknown workspace is an error; without a preloaded launcher it warns and returns false.
SELECT work_plane.sync_now('nope');
SELECT work_plane.sync_now('acme');
SELECT state, requested_at IS NOT NULL AS requested, full_requested FROM work_plane.sync_state;
-- Requests coalesce; full is remembered.
SELECT work_plane.sync_now('acme', "full" => true);
SELECT state, full_requested FROM work_plane.sync_state;
-- cancel_sync withdraws a pending request (nothing runs here, so nothing is signalled).
SELECT work_plane.cancel_sync('acme');
SELECT state, requested_at IS NULL AS withdrawn, full_requested FROM work_plane.sync_state;
SELECT work_plane.cancel_sync('nope');
SELECT work_plane.sync_now('acme');
-- The status view.
SELECT workspace_slug, enabled, state, running, pages_done, rows_done, last_success_at, last_error,
       poll_interval
  FROM work_plane.sync_status;
-- Writeback policy: refused without a conflict policy, with a clear message.
SELECT work_plane.set_writeback_policy('acme', 'enabled');
SELECT writeback_policy FROM work_plane.installations;
SELECT writeback_policy, conflict_policy FROM work_plane.set_writeback_policy('acme', 'enabled', 'keep_local');
SELECT writeback_policy, conflict_policy FROM work_plane.set_writeback_policy('acme', 'disabled');
SELECT work_plane.set_writeback_policy('acme', 'on');
SELECT work_plane.set_writeback_policy('nope', 'disabled');
-- Every administrative action is audited.
SELECT source, workspace_slug, action FROM ops.run_events ORDER BY id;
-- Without the library preloaded there is no launcher and no shared request budget.
SELECT work_plane.launcher_pid();
SELECT count(*) FROM work_plane.rate_budgets();
SELECT work_plane.remove_installation('acme'), work_plane.remove_installation('acme');
