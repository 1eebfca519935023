// Writeback: local changes to work items (work_plane.pending_changes) written to Plane by the
// workspace's sync worker, through the sync's client (same budget, retries and backoff). The rules
// live here: optimistic locking on Plane's updated_at, the conflict policy, what Plane silently
// trims, when a change is gone, and when to give up. The Postgres layer only loads and records
// (WritebackStore).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/plane_client.hpp"

namespace plane {

// One local change to send to Plane (work_plane.pending_changes).
struct WritebackRequest {
  long long id = 0;
  int attempts = 0;        // earlier attempts that failed transiently
  std::string op;          // "update" or "create"
  std::string plane_id;    // update: the work item
  std::string project_id;  // the work item's project
  nlohmann::json patch;    // columns as the mirror names them (name, state_plane_id, priority, …)
  std::optional<std::string> base_updated_at;  // update: Plane's updated_at the patch was based on
};

enum class WritebackOutcome {
  Applied,   // Plane accepted it; `object` is Plane's answer (the new mirror row's source)
  Partial,   // Plane answered 2xx but dropped some of the values (see `dropped`)
  Conflict,  // Plane's object changed since the base: nothing was sent; `object` is Plane's current
  Gone,      // the work item no longer exists in Plane (404 on both routes, its project still there)
};

struct WritebackResult {
  WritebackOutcome outcome = WritebackOutcome::Applied;
  nlohmann::json object;          // Plane's current (Conflict) or updated/created (Applied) object
  long http_status = 0;           // of the write, or of the read that decided the outcome
  std::string plane_updated_at;   // Plane's version seen (Conflict) or produced (Applied), UTC ISO
  nlohmann::json dropped = nlohmann::json::object();  // Partial: {"assignees": [ids], "labels": [ids]}
};

// The body of a Plane PATCH/POST for a patch written in the mirror's column names. Only the fields
// writeback supports are allowed (name, state, priority, assignees, labels, dates, description);
// throws PlaneError(Config) naming an unknown field or a wrong type.
nlohmann::json plane_write_body(const nlohmann::json& patch, bool creating);

// What Plane left out of a write it answered 2xx: Plane keeps only assignees who are active members
// of the project and labels of the same project, and says nothing about the others. Returns
// {"assignees": [...], "labels": [...]} with the ids sent but absent from `answer` (empty object:
// nothing dropped).
nlohmann::json dropped_values(const nlohmann::json& body, const nlohmann::json& answer);

// Optimistic locking with Plane's updated_at as the version: re-read the work item; if it changed
// since the base, report a conflict and leave Plane untouched; otherwise PATCH it. Plane's API
// offers no conditional write, so a change landing between the read and the PATCH (a window of one
// round trip) is overwritten. A 404 is confirmed before it means Gone: by the other route family
// (a server before Community Edition v1.1.0 has only issues/, and its 404 looks like a missing
// object's; the client then keeps that route) and by the project still being there.
WritebackResult apply_writeback(PlaneClient& client, const WritebackRequest& request);

// ---------------------------------------------------------------------------------------------
// The run: which changes to send and what becomes of each.

struct WritebackPolicy {
  bool enabled = false;
  std::string conflict_policy;  // "plane_wins" (drop the local patch) or "keep_local" (keep it)
};

// The status a change ends in (pending_changes.status), and the audit action that says so.
enum class ChangeStatus { Applied, Partial, Conflict, Discarded, Gone, Failed, Pending };
const char* change_status_name(ChangeStatus status);

struct ChangeRecord {
  ChangeStatus status = ChangeStatus::Pending;
  std::string action;            // ops.run_events action: writeback_applied, writeback_partial, …
  long http_status = 0;          // 0: none
  std::string plane_id;          // the work item (a create's new id)
  std::string plane_updated_at;  // Plane's version after the write, or at the conflict
  std::string error;             // last_error ("" none)
  nlohmann::json mirror_row;     // the work item as Plane answered, mapped (null: none)
  nlohmann::json details;        // the audit row's details (never a credential)
};

class WritebackStore {
 public:
  virtual ~WritebackStore() = default;
  virtual WritebackPolicy load_policy() = 0;
  virtual std::vector<WritebackRequest> load_pending(int limit) = 0;
  // The change's status, the mirror row, the item's needs_sync and one audit row, all-or-nothing.
  virtual void record(const WritebackRequest& change, const ChangeRecord& record) = 0;
};

struct WritebackSummary {
  long applied = 0;
  long partial = 0;
  long conflicts = 0;
  long gone = 0;
  long failed = 0;
  long retried = 0;
};

// Sends the workspace's pending changes (up to `batch` per run) when writeback is enabled; a
// disabled policy leaves them pending. A transient failure (5xx, timeout, 429 storm, a refused
// credential) keeps a change pending for a later run until `max_attempts`; anything else fails it
// at once. A refused credential also fails the whole run (rethrown), as does cancellation.
class WritebackEngine {
 public:
  WritebackEngine(PlaneClient& client, WritebackStore& store, int max_attempts = 5, int batch = 100)
      : client_(client), store_(store), max_attempts_(max_attempts), batch_(batch) {}
  WritebackSummary run();

 private:
  PlaneClient& client_;
  WritebackStore& store_;
  int max_attempts_;
  int batch_;
};

}  // namespace plane
