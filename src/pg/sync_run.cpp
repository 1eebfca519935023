#include "pg/sync_run.hpp"

#include <chrono>
#include <cstdio>
#include <memory>

#include "core/errors.hpp"
#include "core/sync_engine.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/latch_waiter.hpp"
#include "pg/mirror_sink.hpp"
#include "pg/shared_budget.hpp"
#include "pg/shared_state.hpp"
#include "pg/installation_credentials.hpp"
#include "pg/vault.hpp"
#include "pg/writeback_run.hpp"

namespace plane::pg {

namespace {

// Plane's window is sliding and counted on arrival; a little margin keeps our send-time count
// from racing it (plane-api.md §2).
std::int64_t budget_window_ms() { return static_cast<std::int64_t>(settings.rate_limit_window_s) * 1000 + 250; }

struct RunClaim {
  bool claimed = false;  // false: another worker holds the workspace, or it is gone/disabled
  bool full = false;
  bool reconcile = false;
  std::string api_url;
};

RunClaim claim_run(const std::string& slug) {
  RunClaim claim;
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, INT4OID};
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), Int32GetDatum(settings.reconcile_interval_s)};
    // Session-level advisory lock: one sync per workspace even if a launcher restart raced us.
    SPI_execute_with_args(
        "SELECT pg_try_advisory_lock(hashtext('plane_connector.sync'), hashtext($1))", 1, types,
        values, nullptr, false, 1);
    bool isnull = false;
    if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))) {
      return;
    }
    SPI_execute_with_args(
        "SELECT coalesce(i.api_url, ''), s.full_requested, "
        "  coalesce((SELECT c.last_full_sync FROM work_plane.events_cursor c "
        "            WHERE c.workspace_slug = i.workspace_slug AND c.resource = 'reconcile'), "
        "           '-infinity') < now() - make_interval(secs => $2) "
        "FROM work_plane.installations i "
        "JOIN work_plane.sync_state s USING (workspace_slug) "
        "WHERE i.workspace_slug = $1 AND i.enabled FOR UPDATE OF s",
        2, types, values, nullptr, false, 1);
    if (SPI_processed == 0) return;
    HeapTuple tup = SPI_tuptable->vals[0];
    char* url = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
    claim.api_url.assign(url != nullptr ? url : "");
    claim.full = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
    claim.reconcile = claim.full || DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
    SPI_execute_with_args(
        "UPDATE work_plane.sync_state SET state = 'running', phase = 'starting', "
        "requested_at = NULL, full_requested = false, cancel_requested = false, "
        "worker_pid = pg_backend_pid(), run_started_at = now(), last_attempt_at = now(), "
        "pages_done = 0, rows_done = 0, rows_expected = NULL, updated_at = now() "
        "WHERE workspace_slug = $1",
        1, types, values, nullptr, false, 0);
    claim.claimed = true;
  });
  return claim;
}

void record_budget_key(const std::string& slug, const std::string& key_id) {
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(key_id.c_str())};
    SPI_execute_with_args(
        "UPDATE work_plane.sync_state SET budget_key = $2 WHERE workspace_slug = $1", 2, types,
        values, nullptr, false, 0);
  });
}

// Records how the run ended: one summary row in ops.run_events, and the state sync_status shows.
void finish_run(const std::string& slug, const char* state, const std::string& error,
                long http_status, const std::string& details_json, bool reconciled) {
  in_transaction([&]() noexcept {
    Oid types[6] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, BOOLOID};
    Datum values[6] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(state),
                       CStringGetTextDatum(error.c_str()), Int32GetDatum(static_cast<int32>(http_status)),
                       CStringGetTextDatum(details_json.c_str()), BoolGetDatum(reconciled)};
    const char nulls[6] = {' ', ' ', error.empty() ? 'n' : ' ', http_status == 0 ? 'n' : ' ', ' ', ' '};
    SPI_execute_with_args(
        "WITH s AS (UPDATE work_plane.sync_state SET state = $2, "
        "phase = CASE WHEN $2 = 'idle' THEN 'done' ELSE phase END, worker_pid = NULL, "
        "last_success_at = CASE WHEN $3 IS NULL THEN now() ELSE last_success_at END, "
        "last_error = $3, last_error_at = CASE WHEN $3 IS NULL THEN last_error_at ELSE now() END, "
        "requests_used = ($5::jsonb->>'requests')::bigint, "
        "throttled = ($5::jsonb->>'throttled')::bigint, updated_at = now() "
        "WHERE workspace_slug = $1 RETURNING 1), "
        "r AS (INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, last_full_sync) "
        "  SELECT $1, 'reconcile', now() WHERE $6 AND $3 IS NULL "
        "  ON CONFLICT (workspace_slug, resource) DO UPDATE SET last_full_sync = now(), "
        "  updated_at = now() RETURNING 1) "
        "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
        "VALUES ('plane', $1, CASE WHEN $3 IS NULL THEN 'sync' ELSE 'sync_failed' END, $4, "
        "$5::jsonb || jsonb_build_object('state', $2, 'error', $3))",
        6, types, values, nulls, false, 0);
  });
}

std::string summary_json(const plane::SyncSummary& s, const WritebackSummary& wb,
                         const plane::ClientStats& http, long long elapsed_ms, const RunClaim& claim) {
  nlohmann::json j = {{"projects", s.projects},
                      {"work_items", s.work_items},
                      {"cycles", s.cycles},
                      {"modules", s.modules},
                      {"states", s.states},
                      {"labels", s.labels},
                      {"pages_mirrored", s.pages},
                      {"pages_available", s.pages_available},
                      {"pages", s.list_pages},
                      {"gone", s.gone},
                      {"refetched", s.refetched},
                      {"incremental_projects", s.incremental_projects},
                      {"backfill_projects", s.backfill_projects},
                      {"requests", http.requests},
                      {"retries", http.retries},
                      {"throttled", http.throttled},
                      {"duration_ms", elapsed_ms},
                      {"full", claim.full},
                      {"reconcile", claim.reconcile},
                      {"writeback", {{"applied", wb.applied}, {"conflicts", wb.conflicts},
                                     {"gone", wb.gone}, {"failed", wb.failed}, {"retried", wb.retried}}}};
  return j.dump();
}

void progress_phase(const std::string& slug, const char* phase) {
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(phase)};
    SPI_execute_with_args("UPDATE work_plane.sync_state SET phase = $2 WHERE workspace_slug = $1", 2,
                          types, values, nullptr, false, 0);
  });
}

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Why a Cancelled unwinding happened: shutdown (SIGTERM) or work_plane.cancel_sync (SIGINT).
const char* stop_reason() {
  return ProcDiePending || ShutdownRequestPending ? "interrupted" : "cancelled";
}

}  // namespace

void run_workspace_sync(const std::string& slug) noexcept {
  // Everything that can fail is C++ here; Postgres calls go through in_transaction/pg_call.
  const auto started = std::chrono::steady_clock::now();
  plane::ClientStats http;
  plane::SyncSummary summary;
  WritebackSummary wb;
  RunClaim claim;
  auto elapsed = [&] {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started)
                                      .count());
  };
  auto record_stop = [&](const char* state, const std::string& message, long status) {
    // The outcome is recorded even while a SIGTERM or cancel is pending: hold interrupts, and
    // forget a cancel we have already acted on so that SPI does not raise it again.
    HOLD_INTERRUPTS();
    QueryCancelPending = false;
    try {
      finish_run(slug, state, message, status, summary_json(summary, wb, http, elapsed(), claim), false);
    } catch (const std::exception&) {
      elog(LOG, "plane_connector: could not record the outcome of the sync of \"%s\"", slug.c_str());
    }
    RESUME_INTERRUPTS();
  };
  try {
    claim = claim_run(slug);
    if (!claim.claimed) return;
    if (claim.full) clear_cursors(slug);

    plane::PlaneClientConfig config;
    config.api_url = claim.api_url.empty() ? std::string(settings.api_url ? settings.api_url : "")
                                           : claim.api_url;
    config.workspace_slug = slug;
    config.per_page = settings.page_size;
    config.timeout_ms = settings.http_timeout_ms;
    config.max_attempts = settings.max_attempts;

    LatchWaiter waiter;
    plane::CurlTransport transport([&waiter] { return waiter.cancelled(); });
    InstallationCredentials credentials(slug, config.api_url, CredentialContext::Worker);
    // Workers sharing a key share its budget; the key is read here only to derive the digest.
    std::unique_ptr<plane::RequestBudget> budget;
    if (shared_state() != nullptr) {
      std::string identity = credentials.budget_identity();
      const std::string key_id = budget_key_id(config.api_url, identity);
      secure_wipe(identity);
      record_budget_key(slug, key_id.substr(0, 12));
      budget = std::make_unique<SharedRequestBudget>(key_id, settings.rate_limit_per_minute,
                                                     budget_window_ms());
    } else {
      budget = std::make_unique<plane::LocalRequestBudget>(settings.rate_limit_per_minute,
                                                           budget_window_ms());
    }
    plane::PlaneClient client(config, transport, *budget, credentials, waiter);
    PgMirrorSink sink(slug);
    plane::SyncOptions options;
    options.full = claim.full;
    options.reconcile = claim.reconcile;
    options.pages = settings.sync_pages;
    options.now_us = unix_now_us();
    options.overlap_ms = static_cast<std::int64_t>(settings.overlap_s) * 1000;
    plane::SyncEngine engine(client, sink, options);
    try {
      // Local changes first: a sync right after sees Plane's answer to them.
      progress_phase(slug, "writeback");
      wb = run_writeback(slug, client);
      summary = engine.run();
      http = client.stats();
    } catch (...) {
      http = client.stats();
      throw;
    }
    finish_run(slug, "idle", "", 0, summary_json(summary, wb, http, elapsed(), claim), claim.reconcile);
    return;
  } catch (const plane::PlaneError& e) {
    if (e.kind() == plane::ErrorKind::Cancelled) {
      const char* reason = stop_reason();
      record_stop(reason,
                  std::string(reason) + " (" +
                      (reason[0] == 'c' ? "work_plane.cancel_sync" : "shutdown or terminate") +
                      "); the next run resumes from the saved cursor",
                  0);
      return;
    }
    record_stop("failed", e.what(), e.http_status());
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), e.what());
  } catch (const PgError& e) {
    if (e.sqlerrcode() == ERRCODE_QUERY_CANCELED || e.sqlerrcode() == ERRCODE_ADMIN_SHUTDOWN) {
      record_stop(stop_reason(), std::string(stop_reason()) + " while writing to the mirror", 0);
      return;
    }
    char message[1024];
    std::snprintf(message, sizeof message, "%s", e.what());
    record_stop("failed", message, 0);
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), message);
  } catch (const std::exception& e) {
    char message[1024];
    std::snprintf(message, sizeof message, "%s", e.what());
    record_stop("failed", message, 0);
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), message);
  }
}

}  // namespace plane::pg
