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
#include "pg/sync_state_store.hpp"
#include "pg/calendar_zones.hpp"
#include "core/hosts.hpp"

namespace plane::pg {

namespace {

// Plane's window is sliding and counted on arrival; a little margin keeps our send-time count
// from racing it.
std::int64_t budget_window_ms() { return static_cast<std::int64_t>(settings.rate_limit_window_s) * 1000 + 250; }

std::string summary_json(const plane::SyncSummary& s, const plane::WritebackSummary& wb,
                         const plane::ClientStats& http, long long elapsed_ms, const RunClaim& claim) {
  nlohmann::json unreadable = nlohmann::json::array();
  for (const auto& p : s.unreadable_projects) {
    unreadable.push_back({{"id", p.id}, {"name", p.name}, {"access", plane::project_access_name(p.access)}});
  }
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
                      {"refreshed", s.refreshed},
                      {"memberships", s.memberships},
                      {"relisted", s.relisted},
                      {"page_details", s.page_details},
                      {"pages_waiting", s.pages_waiting},
                      {"unreadable_projects", unreadable},
                      {"unavailable", s.unavailable},
                      {"page_size", s.page_size},
                      {"work_items_route", s.work_items_segment},
                      {"incremental_projects", s.incremental_projects},
                      {"backfill_projects", s.backfill_projects},
                      {"requests", http.requests},
                      {"retries", http.retries},
                      {"throttled", http.throttled},
                      {"duration_ms", elapsed_ms},
                      {"full", claim.full},
                      {"reconcile", claim.reconcile},
                      {"writeback", {{"applied", wb.applied}, {"partial", wb.partial},
                                     {"conflicts", wb.conflicts}, {"gone", wb.gone},
                                     {"failed", wb.failed}, {"retried", wb.retried}}}};
  return j.dump();
}

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Why a Cancelled unwinding happened: shutdown (SIGTERM) or work_plane.cancel_sync.
const char* stop_reason() {
  return ProcDiePending || ShutdownRequestPending ? "interrupted" : "cancelled";
}

// A run's share of the drift refresh: at most plane.refresh_budget_share percent of the requests
// the key may send in one poll interval, at least one page.
int refresh_pages_per_run() {
  if (settings.rate_limit_per_minute <= 0) return 1000;  // no limit to share
  const double per_interval = settings.rate_limit_per_minute * (settings.poll_interval_s / 60.0);
  return std::max(1, static_cast<int>(per_interval * settings.refresh_budget_share / 100.0));
}

}  // namespace

plane::PlaneClientConfig client_config(const std::string& slug, const std::string& api_url) {
  plane::PlaneClientConfig config;
  config.api_url = api_url.empty() ? std::string(settings.api_url ? settings.api_url : "") : api_url;
  config.workspace_slug = slug;
  config.per_page = settings.page_size;
  config.timeout_ms = settings.http_timeout_ms;
  config.max_attempts = settings.max_attempts;
  config.credential_hosts = plane::parse_host_list(settings.allowed_hosts != nullptr ? settings.allowed_hosts : "");
  return config;
}

void run_workspace_sync(const std::string& slug) noexcept {
  // Everything that can fail is C++ here; Postgres calls go through in_transaction/pg_call.
  const auto started = std::chrono::steady_clock::now();
  plane::ClientStats http;
  plane::SyncSummary summary;
  plane::WritebackSummary wb;
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
    claim = claim_run(slug, settings.reconcile_interval_s);
    if (!claim.claimed) return;
    register_running_sync(slug.c_str());  // cancel_sync finds this run here
    if (claim.full) clear_cursors(slug);

    PgMirrorSink sink(slug);
    const plane::ServerProfile profile = sink.load_profile();
    plane::PlaneClientConfig config = client_config(slug, claim.api_url);
    if (profile.page_size > 0) config.per_page = std::min(config.per_page, profile.page_size);
    if (!profile.work_items_segment.empty()) config.work_items_segment = profile.work_items_segment;

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
    PgCalendarZones zones;
    plane::SyncOptions options;
    options.full = claim.full;
    options.reconcile = claim.reconcile;
    options.pages = settings.sync_pages;
    options.content_fetches = settings.page_content_fetches;
    options.now_us = unix_now_us();
    options.overlap_ms = static_cast<std::int64_t>(settings.overlap_s) * 1000;
    options.refresh_interval_ms = static_cast<std::int64_t>(settings.refresh_interval_s) * 1000;
    options.refresh_pages = refresh_pages_per_run();
    options.zones = &zones;
    plane::SyncEngine engine(client, sink, options);
    try {
      // Local changes first: a sync right after sees Plane's answer to them.
      set_phase(slug, "writeback");
      wb = run_writeback(slug, client);
      summary = engine.run();
      http = client.stats();
    } catch (...) {
      http = client.stats();
      throw;
    }
    finish_run(slug, "idle", "", 0, summary_json(summary, wb, http, elapsed(), claim), claim.reconcile);
    unregister_running_sync();
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
    copy_message(message, sizeof message, e.what());
    record_stop("failed", message, 0);
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), message);
  } catch (const std::exception& e) {
    char message[1024];
    copy_message(message, sizeof message, e.what());
    record_stop("failed", message, 0);
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: %s", slug.c_str(), message);
  } catch (...) {
    record_stop("failed", "unknown C++ exception", 0);
    elog(LOG, "plane_connector: sync of workspace \"%s\" failed: unknown C++ exception", slug.c_str());
  }
  unregister_running_sync();
}

}  // namespace plane::pg
