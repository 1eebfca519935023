// Writeback inside a workspace's sync worker: writes its pending local changes to Plane when the
// installation's writeback_policy is 'enabled', through the sync's client (same request budget,
// retries and backoff), and records every outcome in work_plane.pending_changes and ops.run_events.
#pragma once

#include <string>

#include "core/plane_client.hpp"

namespace plane::pg {

struct WritebackSummary {
  long applied = 0;
  long conflicts = 0;
  long gone = 0;
  long failed = 0;
  long retried = 0;
};

WritebackSummary run_writeback(const std::string& slug, plane::PlaneClient& client);

}  // namespace plane::pg
