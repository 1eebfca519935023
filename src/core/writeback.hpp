#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/plane_client.hpp"

namespace plane {

// One local change to send to Plane (work_plane.pending_changes).
struct WritebackRequest {
  std::string op;          // "update" or "create"
  std::string plane_id;    // update: the work item
  std::string project_id;  // the work item's project
  nlohmann::json patch;    // columns as the mirror names them (name, state_plane_id, priority, …)
  std::optional<std::string> base_updated_at;  // update: Plane's updated_at the patch was based on
};

enum class WritebackOutcome {
  Applied,   // Plane accepted it; `object` is Plane's answer (the new mirror row's source)
  Conflict,  // Plane's object changed since the base: nothing was sent; `object` is Plane's current
  Gone,      // the work item no longer exists in Plane (404: deleted or archived)
};

struct WritebackResult {
  WritebackOutcome outcome = WritebackOutcome::Applied;
  nlohmann::json object;          // Plane's current (Conflict) or updated/created (Applied) object
  long http_status = 0;           // of the write, or of the read that decided the outcome
  std::string plane_updated_at;   // Plane's version seen (Conflict) or produced (Applied), UTC ISO
};

// The body of a Plane PATCH/POST for a patch written in the mirror's column names. Only the fields
// writeback supports are allowed (name, state, priority, assignees, labels, dates, description);
// throws PlaneError(Config) naming an unknown field or a wrong type.
nlohmann::json plane_write_body(const nlohmann::json& patch, bool creating);

// Optimistic locking with Plane's updated_at as the version: re-read the work item; if it changed
// since the base, report a conflict and leave Plane untouched; otherwise PATCH it. Plane's API
// offers no conditional write, so a change landing between the read and the PATCH (a window of one
// round trip) is overwritten; see README "Writeback".
WritebackResult apply_writeback(PlaneClient& client, const WritebackRequest& request);

}  // namespace plane
