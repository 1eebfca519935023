#include "pg/gucs.hpp"

#include "pg/pg_prelude.hpp"

namespace plane::pg {

Settings settings{};

namespace {

bool check_api_url(char** newval, void** extra, GucSource source) {
  const char* v = *newval;
  if (v == nullptr || v[0] == '\0') return true;  // empty: installations must name their own
  if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
    GUC_check_errdetail("plane.api_url must start with http:// or https://.");
    return false;
  }
  return true;
}

}  // namespace

void define_settings() {
  DefineCustomStringVariable("plane.api_url", "Default Plane API base URL (without /api/v1).",
                             "An installation's own api_url takes precedence.", &settings.api_url,
                             "https://api.plane.so", PGC_SIGHUP, 0, check_api_url, nullptr,
                             nullptr);
  // A postmaster-level setting can only be defined while preloading; loaded later (a backend
  // calling a function), the library has no workers and does not need it.
  if (process_shared_preload_libraries_in_progress) {
    DefineCustomStringVariable("plane.database", "Database the plane_connector workers connect to.",
                               "The extension must be created in this database.",
                               &settings.database, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr,
                               nullptr);
  }
  DefineCustomIntVariable("plane.poll_interval", "Default seconds between syncs of an installation.",
                          "An installation's poll_interval takes precedence.",
                          &settings.poll_interval_s, 300, 10, 7 * 24 * 3600, PGC_SIGHUP,
                          GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.http_timeout", "Timeout of one HTTP request to Plane.", nullptr,
                          &settings.http_timeout_ms, 30000, 100, 600000, PGC_SIGHUP, GUC_UNIT_MS,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.page_size", "per_page requested from Plane's list endpoints.",
                          "Plane Cloud's documented maximum is 100.", &settings.page_size, 100, 1,
                          1000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.max_sync_workers", "Workspaces synced at the same time.",
                          "Each takes one of max_worker_processes while it runs.",
                          &settings.max_sync_workers, 4, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomIntVariable("plane.rate_limit_per_minute", "Requests per minute allowed per API key.",
                          "Plane's default is 60; 0 disables pacing.",
                          &settings.rate_limit_per_minute, 60, 0, 1024, PGC_SIGHUP, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("plane.max_attempts", "Attempts per request on 5xx, timeouts and "
                          "malformed bodies.", nullptr, &settings.max_attempts, 5, 1, 20,
                          PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.launcher_naptime", "Longest the launcher sleeps between checks.",
                          nullptr, &settings.launcher_naptime_s, 10, 1, 3600, PGC_SIGHUP,
                          GUC_UNIT_S, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("plane");
}

}  // namespace plane::pg
