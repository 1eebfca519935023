// One sync run of one workspace inside a sync worker: claims the run, drives the core SyncEngine,
// and records the outcome in work_plane.sync_state and ops.run_events.
#pragma once

#include <string>

#include "core/plane_client.hpp"

namespace plane::pg {

// The client settings of a workspace's requests (plane.* settings; api_url "" uses plane.api_url),
// credentials bound to plane.allowed_hosts.
plane::PlaneClientConfig client_config(const std::string& slug, const std::string& api_url);

// Returns normally in every case except process death; never lets an exception escape.
void run_workspace_sync(const std::string& slug) noexcept;

}  // namespace plane::pg
