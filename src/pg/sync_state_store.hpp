// The one owner of work_plane.sync_state in C++: every statement that reads the schedule or
// writes a run's state is here (SQL functions go through work_plane._request_sync). Workers call
// the functions outside a transaction unless the name says "in_transaction" (C-level, SPI
// connected, inside pg_call).
#pragma once

#include <string>
#include <vector>

#include "core/sync_engine.hpp"

namespace plane::pg {

struct RunClaim {
  bool claimed = false;  // false: another worker holds the workspace, or it is gone/disabled
  bool full = false;
  bool reconcile = false;
  std::string api_url;
};

// Takes the workspace's advisory lock and marks its run as running (this process).
RunClaim claim_run(const std::string& slug, int reconcile_interval_s);

void record_budget_key(const std::string& slug, const std::string& key_id);
void set_phase(const std::string& slug, const char* phase);
// The progress of a scan, in the caller's transaction (with the page it describes).
void save_progress_in_transaction(const char* slug, const plane::SyncProgress& progress) noexcept;
// How the run ended; `details_json` is the run summary (one ops.run_events row). `reconciled`:
// the run reconciled every project (the reconcile interval starts again).
void finish_run(const std::string& slug, const char* state, const std::string& error, long http_status,
                const std::string& details_json, bool reconciled);

// Asks for a sync of `slug` (coalescing with one pending or running), in the caller's transaction.
void request_sync_in_transaction(const char* slug) noexcept;

// The launcher's view: runs marked running or queued whose worker is gone become interrupted and
// are requested again (they resume from their cursors).
void recover_interrupted_runs();
struct DueInstallation {
  std::string slug;
};
// Installations due for a sync (requested, poll interval elapsed, or a token about to lapse),
// without those in `running`, at most `limit`; `next_due_ms` is how long until the next falls due
// (-1: none).
std::vector<DueInstallation> find_due(const std::vector<std::string>& running, int limit,
                                      int poll_interval_s, int refresh_margin_s, long& next_due_ms);
void mark_queued(const std::string& slug);

}  // namespace plane::pg
