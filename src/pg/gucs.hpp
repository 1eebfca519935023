// Settings under plane.* (design brief: "GUCs live under plane.").
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
  int max_attempts;          // attempts per request on 5xx/timeouts/malformed bodies
  int launcher_naptime_s;    // longest the launcher sleeps without a signal
};

extern Settings settings;

void define_settings();

}  // namespace plane::pg
