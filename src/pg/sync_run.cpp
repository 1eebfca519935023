#include "pg/sync_run.hpp"

#include <chrono>
#include <cstdio>

#include "core/errors.hpp"
#include "core/sync_engine.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/latch_waiter.hpp"
#include "pg/mirror_sink.hpp"
#include "pg/vault.hpp"

namespace plane::pg {

namespace {

struct RunClaim {
  bool claimed = false;   // false: another worker holds the workspace, or it is gone/disabled
  bool full = false;
  std::string api_url;
};

RunClaim claim_run(const std::string& slug) {
  RunClaim claim;
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    // Session-level advisory lock: one sync per workspace even if a launcher restart raced us.
    SPI_execute_with_args(
        "SELECT pg_try_advisory_lock(hashtext('plane_connector.sync'), hashtext($1))", 1, types,
        values, nullptr, false, 1);
    bool isnull = false;
    if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))) {
      return;
    }
    SPI_execute_with_args(
        "SELECT coalesce(i.api_url, ''), s.full_requested FROM work_plane.installations i "
        "JOIN work_plane.sync_state s USING (workspace_slug) "
        "WHERE i.workspace_slug = $1 AND i.enabled FOR UPDATE OF s",
        1, types, values, nullptr, false, 1);
    if (SPI_processed == 0) return;
    char* url = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    claim.api_url.assign(url != nullptr ? url : "");
    claim.full = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    SPI_execute_with_args(
        "UPDATE work_plane.sync_state SET state = 'running', phase = 'starting', "
        "requested_at = NULL, full_requested = false, worker_pid = pg_backend_pid(), "
        "run_started_at = now(), last_attempt_at = now(), pages_done = 0, rows_done = 0, "
        "rows_expected = NULL, updated_at = now() WHERE workspace_slug = $1",
        1, types, values, nullptr, false, 0);
    claim.claimed = true;
  });
  return claim;
}

// Records how the run ended: one summary row in ops.run_events, and the state sync_status shows.
void finish_run(const std::string& slug, const char* state, const std::string& error,
                long http_status, const std::string& details_json) {
  in_transaction([&]() noexcept {
    Oid types[5] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
    Datum values[5] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(state),
                       CStringGetTextDatum(error.c_str()), Int32GetDatum(static_cast<int32>(http_status)),
                       CStringGetTextDatum(details_json.c_str())};
    const char nulls[5] = {' ', ' ', error.empty() ? 'n' : ' ', http_status == 0 ? 'n' : ' ', ' '};
    SPI_execute_with_args(
        "WITH s AS (UPDATE work_plane.sync_state SET state = $2, "
        "phase = CASE WHEN $2 = 'idle' THEN 'done' ELSE phase END, worker_pid = NULL, "
        "last_success_at = CASE WHEN $3 IS NULL THEN now() ELSE last_success_at END, "
        "last_error = $3, last_error_at = CASE WHEN $3 IS NULL THEN last_error_at ELSE now() END, "
        "requests_used = ($5::jsonb->>'requests')::bigint, "
        "throttled = ($5::jsonb->>'throttled')::bigint, updated_at = now() "
        "WHERE workspace_slug = $1 RETURNING 1) "
        "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
        "VALUES ('plane', $1, CASE WHEN $3 IS NULL THEN 'sync' ELSE 'sync_failed' END, $4, "
        "$5::jsonb || jsonb_build_object('state', $2, 'error', $3))",
        5, types, values, nulls, false, 0);
  });
}

std::string summary_json(const plane::SyncSummary& s, const plane::ClientStats& http,
                         long long elapsed_ms, bool full) {
  nlohmann::json j = {{"projects", s.projects},  {"work_items", s.work_items},
                      {"pages", s.pages},        {"requests", http.requests},
                      {"retries", http.retries}, {"throttled", http.throttled},
                      {"duration_ms", elapsed_ms}, {"full", full}};
  return j.dump();
}

}  // namespace

void run_workspace_sync(const std::string& slug) noexcept {
  // Everything that can fail is C++ here; Postgres calls go through in_transaction/pg_call.
  const auto started = std::chrono::steady_clock::now();
  plane::ClientStats http;
  plane::SyncSummary summary;
  bool full = false;
  auto elapsed = [&] {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started)
                                      .count());
  };
  try {
    RunClaim claim = claim_run(slug);
    if (!claim.claimed) return;
    full = claim.full;
    if (full) clear_cursors(slug);

    plane::PlaneClientConfig config;
    config.api_url = claim.api_url.empty() ? std::string(settings.api_url ? settings.api_url : "")
                                           : claim.api_url;
    config.workspace_slug = slug;
    config.per_page = settings.page_size;
    config.timeout_ms = settings.http_timeout_ms;
    config.max_attempts = settings.max_attempts;

    LatchWaiter waiter;
    plane::CurlTransport transport([&waiter] { return waiter.cancelled(); });
    plane::LocalRequestBudget budget(settings.rate_limit_per_minute, 60000);
    VaultApiKeySource credentials(slug);
    plane::PlaneClient client(config, transport, budget, credentials, waiter);
    PgMirrorSink sink(slug);
    plane::SyncEngine engine(client, sink);
    try {
      summary = engine.run();
      http = client.stats();
    } catch (...) {
      http = client.stats();
      throw;
    }
    finish_run(slug, "idle", "", 0, summary_json(summary, http, elapsed(), full));
    return;
  } catch (const plane::PlaneError& e) {
    const bool cancelled = e.kind() == plane::ErrorKind::Cancelled;
    const std::string message = cancelled ? "interrupted (shutdown or cancel); will resume from "
                                            "the saved cursor"
                                          : std::string(e.what());
    try {
      HOLD_INTERRUPTS();  // record the outcome even while a SIGTERM is pending
      finish_run(slug, cancelled ? "interrupted" : "failed", message, e.http_status(),
                 summary_json(summary, http, elapsed(), full));
      RESUME_INTERRUPTS();
    } catch (const std::exception& inner) {
      RESUME_INTERRUPTS();
      elog(LOG, "plane_connector: could not record the sync outcome");
    }
    if (!cancelled) elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), e.what());
  } catch (const std::exception& e) {
    char message[1024];
    std::snprintf(message, sizeof message, "%s", e.what());
    try {
      finish_run(slug, "failed", message, 0, summary_json(summary, http, elapsed(), full));
    } catch (...) {
    }
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), message);
  }
}

}  // namespace plane::pg
