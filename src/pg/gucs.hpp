// Settings under plane.*, all defined here (the prefix is reserved: an undefined plane.* name is an
// error, not a silent placeholder).
#pragma once

namespace plane::pg {

struct Settings {
  char* api_url;             // default Plane API base URL (installations may override)
  char* database;            // database the workers connect to (postmaster start)
  int poll_interval_s;       // default poll interval for installations without their own
  int http_timeout_ms;       // per-request timeout
  int page_size;             // per_page sent to Plane, constant across a scan
  int max_sync_workers;      // concurrent per-workspace sync workers
  int rate_limit_per_minute; // Plane's per-key budget (60 on Cloud, API_KEY_RATE_LIMIT self-hosted)
  int rate_limit_window_s;   // the window that budget is counted over (60: "N/minute")
  int max_attempts;          // attempts per request on 5xx/timeouts/malformed bodies
  int launcher_naptime_s;    // longest the launcher sleeps without a signal
  int reconcile_interval_s;  // how often a sync also lists ids to find deleted/archived rows
  int overlap_s;             // incremental scans re-read this much before the watermark
  bool sync_pages;           // try Plane's pages API (Cloud only)
  int page_content_fetches;  // pages a sync may read one by one for their content
  int retention_s;           // ops.run_events rows older than this are pruned
  int webhook_max_body_kb;   // larger deliveries are answered 413
  int webhook_secret_cache_ms;  // a backend reuses a workspace's webhook secret this long (0: off)
  int queue_max_attempts;    // attempts before an event is dead-lettered
  int queue_batch_size;      // events claimed per batch
  int queue_lease_s;         // a claimed batch not finished by then is claimed again
  int queue_retention_s;     // applied events older than this are pruned
  char* webhook_listen_address;  // host:port of the embedded receiver; empty = off
  int webhook_max_connections;         // the receiver's open connections (postmaster start)
  int webhook_max_connections_per_ip;  // the same per client address; 0 = no limit (start)
  int webhook_request_deadline_ms;     // a request not answered this long after it began is cut
  bool queue_worker_enabled;     // off: events wait for work_plane.process_events (pg_cron)
  char* mcp_url;                 // default MCP endpoint (installations may override)
  int oauth_state_ttl_s;         // how long an oauth_authorize_url state stays usable
  int oauth_refresh_margin_s;    // OAuth/bot tokens are renewed this long before they expire
  char* allowed_hosts;           // hosts that may receive credentials (superuser-only setting)
  int refresh_interval_s;        // every work item is re-read this often (0: never)
  int refresh_budget_share;      // percent of a poll interval's requests the refresh may use
  bool webhook_accept_secret_header;  // accept X-Plane-Webhook-Secret (the bare secret) too
  char* fault_injection;         // test hook: "crash_on_apply:<plane id>"; empty: none
  char* search_config;           // text-search configuration of work_plane.search and its index
  int history_retention_s;       // work_plane.item_history rows older than this are pruned
};

extern Settings settings;

void define_settings();

}  // namespace plane::pg
