#include "pg/sync_state_store.hpp"

#include "pg/boundary.hpp"
#include "pg/spi_plan.hpp"

namespace plane::pg {

namespace {

KeptPlan save_progress_plan{
    "UPDATE work_plane.sync_state SET phase = $2, pages_done = $3, rows_done = $4, "
    "rows_expected = nullif($5, -1), updated_at = pg_catalog.now() WHERE workspace_slug = $1",
    5,
    {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID},
    nullptr};

KeptPlan request_sync_plan{"SELECT work_plane._request_sync($1, false)", 1, {TEXTOID}, nullptr};

}  // namespace

RunClaim claim_run(const std::string& slug, int reconcile_interval_s) {
  RunClaim claim;
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, INT4OID};
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), Int32GetDatum(reconcile_interval_s)};
    // Session-level advisory lock: one sync per workspace even if a launcher restart raced us.
    exec_sql("SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('plane_connector.sync'), "
             "pg_catalog.hashtext($1))",
             1, types, values, nullptr, false, SPI_OK_SELECT, 1);
    bool isnull = false;
    if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))) return;
    exec_sql(
        "SELECT coalesce(i.api_url, ''), s.full_requested, "
        "  coalesce((SELECT c.last_full_sync FROM work_plane.events_cursor c "
        "            WHERE c.workspace_slug = i.workspace_slug AND c.resource = 'reconcile'), "
        "           '-infinity') < pg_catalog.now() - pg_catalog.make_interval(secs => $2::float8) "
        "FROM work_plane.installations i "
        "JOIN work_plane.sync_state s USING (workspace_slug) "
        "WHERE i.workspace_slug = $1 AND i.enabled FOR UPDATE OF s",
        2, types, values, nullptr, false, SPI_OK_SELECT, 1);
    if (SPI_processed == 0) return;
    HeapTuple tup = SPI_tuptable->vals[0];
    char* url = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
    cpp_step([&] { claim.api_url.assign(url != nullptr ? url : ""); });
    claim.full = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
    claim.reconcile = claim.full || DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
    exec_sql(
        "UPDATE work_plane.sync_state SET state = 'running', phase = 'starting', "
        "requested_at = NULL, full_requested = false, cancel_requested = false, "
        "worker_pid = pg_catalog.pg_backend_pid(), run_started_at = pg_catalog.now(), "
        "last_attempt_at = pg_catalog.now(), pages_done = 0, rows_done = 0, rows_expected = NULL, "
        "updated_at = pg_catalog.now() WHERE workspace_slug = $1",
        1, types, values, nullptr, false, SPI_OK_UPDATE);
    claim.claimed = true;
  });
  return claim;
}

void record_budget_key(const std::string& slug, const std::string& key_id) {
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(key_id.c_str())};
    exec_sql("UPDATE work_plane.sync_state SET budget_key = $2 WHERE workspace_slug = $1", 2, types,
             values, nullptr, false, SPI_OK_UPDATE);
  });
}

void set_phase(const std::string& slug, const char* phase) {
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(phase)};
    exec_sql("UPDATE work_plane.sync_state SET phase = $2 WHERE workspace_slug = $1", 2, types, values,
             nullptr, false, SPI_OK_UPDATE);
  });
}

void save_progress_in_transaction(const char* slug, const plane::SyncProgress& progress) noexcept {
  Datum values[5] = {CStringGetTextDatum(slug), CStringGetTextDatum(progress.phase.c_str()),
                     Int64GetDatum(progress.pages_done), Int64GetDatum(progress.rows_done),
                     Int64GetDatum(progress.rows_expected)};
  exec_kept(save_progress_plan, values, nullptr, false, SPI_OK_UPDATE);
}

void finish_run(const std::string& slug, const char* state, const std::string& error, long http_status,
                const std::string& details_json, bool reconciled) {
  in_transaction([&]() noexcept {
    Oid types[6] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, BOOLOID};
    Datum values[6] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(state),
                       CStringGetTextDatum(error.c_str()), Int32GetDatum(static_cast<int32>(http_status)),
                       CStringGetTextDatum(details_json.c_str()), BoolGetDatum(reconciled)};
    const char nulls[6] = {' ', ' ', error.empty() ? 'n' : ' ', http_status == 0 ? 'n' : ' ', ' ', ' '};
    exec_sql(
        "WITH s AS (UPDATE work_plane.sync_state SET state = $2, "
        "phase = CASE WHEN $2 = 'idle' THEN 'done' ELSE phase END, worker_pid = NULL, "
        "last_success_at = CASE WHEN $3 IS NULL THEN pg_catalog.now() ELSE last_success_at END, "
        "last_error = $3, last_error_at = CASE WHEN $3 IS NULL THEN last_error_at ELSE pg_catalog.now() END, "
        "requests_used = ($5::jsonb->>'requests')::bigint, "
        "throttled = ($5::jsonb->>'throttled')::bigint, updated_at = pg_catalog.now() "
        "WHERE workspace_slug = $1 RETURNING 1), "
        "r AS (INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, last_full_sync) "
        "  SELECT $1, 'reconcile', pg_catalog.now() WHERE $6 AND $3 IS NULL "
        "  ON CONFLICT (workspace_slug, resource) DO UPDATE SET last_full_sync = pg_catalog.now(), "
        "  updated_at = pg_catalog.now() RETURNING 1) "
        "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
        "VALUES ('plane', $1, CASE WHEN $3 IS NULL THEN 'sync' ELSE 'sync_failed' END, $4, "
        "$5::jsonb OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('state', $2, 'error', $3))",
        6, types, values, nulls, false, SPI_OK_INSERT);
  });
}

void request_sync_in_transaction(const char* slug) noexcept {
  Datum values[1] = {CStringGetTextDatum(slug)};
  exec_kept(request_sync_plan, values, nullptr, false, SPI_OK_SELECT);
}

// A recorded pid is a running sync only if it is a sync worker that started before the run did:
// after a restart, a restore or a promotion the pid may belong to any other process.
void recover_interrupted_runs() {
  in_transaction([&]() noexcept {
    exec_sql(
        "UPDATE work_plane.sync_state SET state = 'interrupted', worker_pid = NULL, "
        "requested_at = coalesce(requested_at, pg_catalog.now()), "
        "last_error = 'interrupted: the sync worker stopped (restart or crash); resumed from the "
        "saved cursor', last_error_at = pg_catalog.now(), updated_at = pg_catalog.now() "
        "WHERE state IN ('running', 'queued') AND NOT EXISTS "
        "(SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = worker_pid "
        "AND a.backend_type = 'plane_connector sync' AND a.backend_start <= run_started_at)",
        0, nullptr, nullptr, nullptr, false, SPI_OK_UPDATE);
  });
}

std::vector<DueInstallation> find_due(const std::vector<std::string>& running, int limit,
                                      int poll_interval_s, int refresh_margin_s, long& next_due_ms) {
  std::vector<DueInstallation> due;
  std::string running_list;  // comma-separated; slugs are [A-Za-z0-9_-], so no escaping needed
  for (const auto& r : running) {
    if (!running_list.empty()) running_list += ',';
    running_list += r;
  }
  std::vector<std::string> slugs;
  long next_ms = -1;
  in_transaction([&]() noexcept {
    Oid types[3] = {TEXTOID, INT4OID, INT4OID};
    Datum values[3] = {CStringGetTextDatum(running_list.c_str()), Int32GetDatum(poll_interval_s),
                       Int32GetDatum(refresh_margin_s)};
    // A sync is also due when the installation's OAuth or bot token is about to lapse: the run
    // renews it first, so tokens stay fresh for mcp_call and refresh tokens stay alive.
    // Installations that need re-authorisation wait for the OAuth flow.
    exec_sql(
        "WITH t AS (SELECT i.workspace_slug, s.requested_at, s.last_attempt_at, "
        "  s.last_attempt_at + coalesce(i.poll_interval, "
        "    pg_catalog.make_interval(secs => $2::float8)) AS poll_due, "
        // After a failed run (say the token endpoint answered 5xx) not before a minute has
        // passed: an expired token must not turn the launcher into a loop of failing runs.
        "  (SELECT greatest(d.due, CASE WHEN s.state = 'failed' "
        "     THEN s.last_attempt_at + interval '1 minute' END) "
        "   FROM (SELECT pg_catalog.min(r.expires_at - least(pg_catalog.make_interval(secs => $3::float8), "
        "     (r.expires_at - r.updated_at) / 2)) AS due "
        "     FROM work_plane.tokens_ref r WHERE r.workspace_slug = i.workspace_slug "
        "      AND ((i.auth_mode = 'oauth' AND r.kind = 'access_token' AND r.user_id = i.oauth_user_id) "
        "        OR (i.auth_mode = 'bot' AND r.kind = 'bot_token'))) d "
        "   WHERE d.due IS NOT NULL) AS renew_due "
        "  FROM work_plane.installations i "
        "  JOIN work_plane.sync_state s USING (workspace_slug) "
        "  WHERE i.enabled AND i.auth_status = 'ok' "
        "    AND NOT (i.workspace_slug = ANY (pg_catalog.string_to_array($1, ',')))) "
        "SELECT workspace_slug, "
        "  (requested_at IS NOT NULL OR last_attempt_at IS NULL "
        "   OR least(poll_due, renew_due) <= pg_catalog.now()) AS due, "
        "  greatest(0, pg_catalog.date_part('epoch', "
        "    least(poll_due, renew_due) - pg_catalog.now()) * 1000)::bigint AS due_in_ms "
        "FROM t ORDER BY requested_at NULLS LAST, last_attempt_at NULLS FIRST",
        3, types, values, nullptr, true, SPI_OK_SELECT);
    for (uint64 r = 0; r < SPI_processed; ++r) {
      bool isnull = false;
      HeapTuple tup = SPI_tuptable->vals[r];
      const bool is_due = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
      if (is_due) {
        char* slug = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
        cpp_step([&] { slugs.emplace_back(slug); });
      } else {
        const long in_ms = static_cast<long>(
            DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull)));
        if (!isnull && (next_ms < 0 || in_ms < next_ms)) next_ms = in_ms;
      }
    }
  });
  for (auto& s : slugs) {
    if (static_cast<int>(due.size()) >= limit) {
      next_ms = 0;  // more are due than we may start: come back as soon as a slot frees
      break;
    }
    due.push_back({std::move(s)});
  }
  next_due_ms = next_ms;
  return due;
}

void mark_queued(const std::string& slug) {
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    exec_sql(
        "UPDATE work_plane.sync_state SET state = 'queued', updated_at = pg_catalog.now() "
        "WHERE workspace_slug = $1 AND state <> 'running'",
        1, types, values, nullptr, false, SPI_OK_UPDATE);
  });
}

}  // namespace plane::pg
