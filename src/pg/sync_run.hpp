// One sync run of one workspace inside a sync worker: claims the run, drives the core SyncEngine,
// and records the outcome in work_plane.sync_state and ops.run_events.
#pragma once

#include <string>

namespace plane::pg {

// Returns normally in every case except process death; never lets an exception escape.
void run_workspace_sync(const std::string& slug) noexcept;

}  // namespace plane::pg
