// Writeback inside a workspace's sync worker: the core's WritebackEngine (the rules) with the
// workspace's pending changes loaded from and recorded in work_plane.pending_changes,
// work_plane.items and ops.run_events.
#pragma once

#include <string>

#include "core/plane_client.hpp"
#include "core/writeback.hpp"

namespace plane::pg {

plane::WritebackSummary run_writeback(const std::string& slug, plane::PlaneClient& client);

}  // namespace plane::pg
