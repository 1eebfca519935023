#include "pg/gucs.hpp"

#include "pg/pg_prelude.hpp"

extern "C" {
#include "utils/varlena.h"
}

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

// A configuration name as SQL writes it: one or two identifiers ("english",
// "work_plane.plane_search"). Whether it exists is checked where it is used (a catalog lookup
// needs a transaction; at server start there is none).
bool check_search_config(char** newval, void** extra, GucSource source) {
  const char* v = *newval;
  if (v == nullptr || v[0] == '\0') {
    GUC_check_errdetail("plane.search_config must name a text search configuration.");
    return false;
  }
  char* copy = pstrdup(v);
  List* names = nullptr;
  const bool ok = SplitIdentifierString(copy, '.', &names) && list_length(names) >= 1 &&
                  list_length(names) <= 2;
  list_free(names);
  pfree(copy);
  if (!ok) GUC_check_errdetail("plane.search_config must be [schema.]name, e.g. work_plane.plane_search.");
  return ok;
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
  DefineCustomIntVariable("plane.page_size", "Largest per_page asked of Plane's list endpoints.",
                          "Community Edition serves up to 1000 rows a page, Plane Cloud documents 100: "
                          "a server that allows fewer is detected once per installation and followed.",
                          &settings.page_size, 1000, 1, 1000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.max_sync_workers", "Workspaces synced at the same time.",
                          "Each takes one of max_worker_processes while it runs.",
                          &settings.max_sync_workers, 4, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomIntVariable("plane.rate_limit_per_minute", "Requests per minute allowed per API key.",
                          "Plane's default is 60; 0 disables pacing.",
                          &settings.rate_limit_per_minute, 60, 0, 1024, PGC_SIGHUP, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("plane.rate_limit_window", "The window plane.rate_limit_per_minute is "
                          "counted over.", "60 s matches Plane's N/minute; self-hosted Plane may "
                          "set API_KEY_RATE_LIMIT to N/hour.", &settings.rate_limit_window_s, 60, 1,
                          86400, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.max_attempts", "Attempts per request on 5xx, timeouts and "
                          "malformed bodies.", nullptr, &settings.max_attempts, 5, 1, 20,
                          PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.launcher_naptime", "Longest the launcher sleeps between checks.",
                          nullptr, &settings.launcher_naptime_s, 10, 1, 3600, PGC_SIGHUP,
                          GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.reconcile_interval",
                          "How often a sync also reconciles ids to find deleted or archived rows.",
                          "sync_now(full => true) always reconciles.",
                          &settings.reconcile_interval_s, 3600, 60, 30 * 24 * 3600, PGC_SIGHUP,
                          GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.incremental_overlap",
                          "How far before the watermark an incremental scan re-reads.",
                          "Covers clock skew between Plane and this server.", &settings.overlap_s,
                          300, 0, 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("plane.sync_pages", "Mirror Plane pages (Plane Cloud only).", nullptr,
                           &settings.sync_pages, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "plane.page_content_fetches", "Pages whose content one sync may fetch.",
      "Plane's page lists leave a page's content out: a sync reads the page itself when it is new, "
      "changed or was never read, at most this many per run; the rest wait for later runs.",
      &settings.page_content_fetches, 50, 0, 100000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.run_events_retention", "Age after which ops.run_events rows of "
                          "plane_connector are pruned.", nullptr, &settings.retention_s,
                          30 * 24 * 3600, 3600, 3650 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("plane.webhook_max_body_size", "Largest webhook body accepted (413 above).",
                          nullptr, &settings.webhook_max_body_kb, 5120, 1, 1024 * 1024, PGC_SIGHUP,
                          GUC_UNIT_KB, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "plane.webhook_secret_cache", "How long a backend reuses a workspace's webhook secret.",
      "ingest_webhook reads the installation and its Vault secret once per this interval per "
      "backend instead of on every delivery (0: every delivery). A delivery whose signature fails "
      "against a reused secret reads it again at once, so a new secret works immediately; a "
      "replaced one keeps working for at most this long.",
      &settings.webhook_secret_cache_ms, 1000, 0, 60000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr,
      nullptr);
  DefineCustomIntVariable("plane.queue_max_attempts", "Attempts before a queued event is dead-lettered.",
                          nullptr, &settings.queue_max_attempts, 8, 1, 100, PGC_SIGHUP, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("plane.queue_batch_size", "Events the queue worker claims per batch.",
                          nullptr, &settings.queue_batch_size, 500, 1, 100000, PGC_SIGHUP, 0,
                          nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.queue_lease", "How long a claimed batch stays leased.",
                          "A worker killed mid-batch loses its lease after this; the batch is then "
                          "claimed again.", &settings.queue_lease_s, 60, 1, 3600, PGC_SIGHUP,
                          GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.queue_retention", "Age after which applied events are pruned.",
                          nullptr, &settings.queue_retention_s, 7 * 24 * 3600, 60,
                          3650 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("plane.queue_worker", "Whether the queue worker applies webhook events.",
                           "Off: they wait for work_plane.process_events (e.g. from pg_cron).",
                           &settings.queue_worker_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr,
                           nullptr);
  DefineCustomStringVariable("plane.mcp_url", "Default Plane MCP endpoint (streamable HTTP).",
                             "An installation's mcp_url takes precedence.", &settings.mcp_url,
                             "https://mcp.plane.so/http/api-key/mcp", PGC_SIGHUP, 0, check_api_url,
                             nullptr, nullptr);
  DefineCustomIntVariable("plane.oauth_state_ttl", "How long the state of an OAuth authorize URL "
                          "stays usable.", nullptr, &settings.oauth_state_ttl_s, 600, 10, 86400,
                          PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.oauth_refresh_margin", "How long before expiry OAuth and bot "
                          "tokens are renewed.", "At most half the token's lifetime is used.",
                          &settings.oauth_refresh_margin_s, 300, 0, 86400, PGC_SIGHUP, GUC_UNIT_S,
                          nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "plane.allowed_hosts", "Hosts that may receive Plane credentials.",
      "Comma-separated host names (\"*.example.com\" for subdomains). API keys, tokens, the OAuth "
      "client secret and refresh tokens are sent only to these hosts, over https (plain http only "
      "to loopback). Only a superuser can change it.",
      &settings.allowed_hosts, "api.plane.so, mcp.plane.so", PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.refresh_interval", "How often every work item is re-read.",
                          "Plane changes state, dates and parent in bulk without moving updated_at "
                          "or sending a webhook; only re-reading shows it. 0: never.",
                          &settings.refresh_interval_s, 24 * 3600, 0, 365 * 24 * 3600, PGC_SIGHUP,
                          GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plane.refresh_budget_share",
                          "Percent of a poll interval's request budget the refresh may use.",
                          "The refresh reads at most this share of plane.rate_limit_per_minute over "
                          "one poll interval per run (at least one page), resuming by cursor.",
                          &settings.refresh_budget_share, 10, 1, 100, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomBoolVariable("plane.webhook_accept_secret_header",
                           "Accept X-Plane-Webhook-Secret carrying the webhook secret itself.",
                           "For a proxy that re-encodes bodies; off, only X-Plane-Signature counts.",
                           &settings.webhook_accept_secret_header, false, PGC_SUSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomStringVariable("plane.fault_injection", "Test hook: a fault to inject.",
                             "crash_on_apply:<plane id> aborts the process applying that object.",
                             &settings.fault_injection, "", PGC_SUSET,
                             GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
  // PGC_SUSET: the index and the queries must use the same configuration, so a session may not
  // pick its own; a DBA sets it for the database and runs work_plane.rebuild_search_index().
  DefineCustomStringVariable("plane.search_config",
                             "Text search configuration of work_plane.search and its index.",
                             "After changing it, run SELECT work_plane.rebuild_search_index().",
                             &settings.search_config, "work_plane.plane_search", PGC_SUSET, 0,
                             check_search_config, nullptr, nullptr);
  DefineCustomIntVariable("plane.history_retention", "Age after which work_plane.item_history "
                          "rows are pruned.", "Measured by when the change was recorded; "
                          "work_plane.prune_history() prunes (the launcher calls it).",
                          &settings.history_retention_s, 730 * 24 * 3600, 24 * 3600,
                          50 * 365 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  if (process_shared_preload_libraries_in_progress) {
    DefineCustomStringVariable("plane.webhook_listen_address",
                               "host:port where the embedded webhook receiver listens; empty: off.",
                               "POST /plane/webhook/{workspace_slug}", &settings.webhook_listen_address,
                               "", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    // libmicrohttpd takes its connection limits when the daemon starts: restart settings.
    DefineCustomIntVariable("plane.webhook_max_connections",
                            "Connections the embedded webhook receiver keeps open at once.",
                            "Further connections wait in the listen backlog.",
                            &settings.webhook_max_connections, 64, 1, 10000, PGC_POSTMASTER, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("plane.webhook_max_connections_per_ip",
                            "Connections the embedded webhook receiver accepts from one client "
                            "address; 0: no limit.",
                            "A connection over the limit is closed at once, so that one address "
                            "cannot take every connection. Behind a reverse proxy every "
                            "connection comes from the proxy's address.",
                            &settings.webhook_max_connections_per_ip, 16, 0, 10000,
                            PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
  }
  // Enforced by the receiver's own loop, so a reload applies it to requests already running.
  DefineCustomIntVariable("plane.webhook_request_deadline",
                          "Longest time the embedded webhook receiver gives one request.",
                          "Counted from the connection's accept, or from the end of the previous "
                          "request on a kept-alive connection, to the answer; a connection past "
                          "it is closed however slowly it is still sending.",
                          &settings.webhook_request_deadline_ms, 10000, 100, 3600 * 1000,
                          PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("plane");
}

}  // namespace plane::pg
