#include "pg/writeback_run.hpp"

#include <optional>
#include <vector>

#include "core/errors.hpp"
#include "core/mapping.hpp"
#include "core/writeback.hpp"
#include "pg/boundary.hpp"
#include "pg/column_upsert.hpp"

namespace plane::pg {

namespace {

constexpr int kMaxAttempts = 5;  // for retryable failures (5xx, timeouts) across runs

struct PendingChange {
  long long id;
  int attempts;
  std::string op, plane_id, project_id, patch, base;
};

struct Policy {
  bool enabled = false;
  std::string conflict_policy;
};

Policy load_policy(const std::string& slug) {
  Policy p;
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    SPI_execute_with_args(
        "SELECT writeback_policy = 'enabled', coalesce(conflict_policy, '') "
        "FROM work_plane.installations WHERE workspace_slug = $1",
        1, types, values, nullptr, true, 1);
    if (SPI_processed == 0) return;
    bool isnull = false;
    p.enabled = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    char* cp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
    p.conflict_policy = cp != nullptr ? cp : "";
  });
  return p;
}

std::vector<PendingChange> load_pending(const std::string& slug) {
  std::vector<PendingChange> out;
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    SPI_execute_with_args(
        "SELECT id, op, coalesce(plane_id, ''), project_plane_id, patch::text, "
        "coalesce(to_json(base_updated_at) #>> '{}', ''), attempts FROM work_plane.pending_changes "
        "WHERE workspace_slug = $1 AND status = 'pending' ORDER BY id LIMIT 100",
        1, types, values, nullptr, true, 0);
    for (uint64 i = 0; i < SPI_processed; ++i) {
      HeapTuple t = SPI_tuptable->vals[i];
      TupleDesc d = SPI_tuptable->tupdesc;
      bool isnull = false;
      out.emplace_back();  // owned by the caller's vector, not by this frame (see pg_call)
      PendingChange& c = out.back();
      c.id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
      c.op = SPI_getvalue(t, d, 2);
      c.plane_id = SPI_getvalue(t, d, 3);
      c.project_id = SPI_getvalue(t, d, 4);
      c.patch = SPI_getvalue(t, d, 5);
      c.base = SPI_getvalue(t, d, 6);
      c.attempts = DatumGetInt32(SPI_getbinval(t, d, 7, &isnull));
    }
  });
  return out;
}

// Records one outcome: the change's status, the mirror row from Plane's answer (if any), the
// item's needs_sync flag, and one audit row.
void record(const std::string& slug, const PendingChange& change, const char* status,
            const char* action, long http_status, const std::string& plane_id,
            const std::string& plane_updated_at, const std::string& error,
            const nlohmann::json& mirror_row, const std::string& details) {
  ColumnRows columns(plane::MirrorTable::Items);
  if (mirror_row.is_object()) columns.add(mirror_row);
  in_transaction([&]() noexcept {
    if (!columns.empty()) columns.upsert(slug.c_str());
    Oid types[9] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
    Datum values[9] = {Int64GetDatum(change.id), CStringGetTextDatum(status),
                       CStringGetTextDatum(plane_id.c_str()), CStringGetTextDatum(plane_updated_at.c_str()),
                       CStringGetTextDatum(error.c_str()), Int32GetDatum(static_cast<int32>(http_status)),
                       CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(action),
                       CStringGetTextDatum(details.c_str())};
    const char nulls[9] = {' ', ' ', ' ', ' ', ' ', http_status == 0 ? 'n' : ' ', ' ', ' ', ' '};
    const int rc = SPI_execute_with_args(
        "WITH c AS (UPDATE work_plane.pending_changes SET status = $2, "
        "  plane_id = coalesce(plane_id, nullif($3, '')), "
        "  plane_updated_at = coalesce(nullif($4, '')::timestamptz, plane_updated_at), "
        "  last_error = nullif($5, ''), plane_response_status = $6, attempts = attempts + 1, "
        "  resolved_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END "
        "  WHERE id = $1 RETURNING plane_id), "
        "i AS (UPDATE work_plane.items it SET needs_sync = EXISTS (SELECT 1 FROM work_plane.pending_changes p "
        "  WHERE p.workspace_slug = $7 AND p.plane_id = it.plane_id AND p.status = 'pending' AND p.id <> $1) "
        "  WHERE it.workspace_slug = $7 AND it.plane_id IN (SELECT plane_id FROM c) RETURNING 1) "
        "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
        "VALUES ('plane', $7, $8, $6, $9::jsonb)",
        9, types, values, nulls, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "plane_connector: could not record a writeback outcome");
  });
}

}  // namespace

WritebackSummary run_writeback(const std::string& slug, plane::PlaneClient& client) {
  WritebackSummary summary;
  const Policy policy = load_policy(slug);
  if (!policy.enabled) return summary;  // pending changes wait; new ones are refused at once
  for (const PendingChange& change : load_pending(slug)) {
    plane::WritebackRequest request;
    request.op = change.op;
    request.plane_id = change.plane_id;
    request.project_id = change.project_id;
    request.patch = nlohmann::json::parse(change.patch);
    if (!change.base.empty()) request.base_updated_at = change.base;
    nlohmann::json details = {{"change_id", change.id}, {"op", change.op},
                              {"object", change.plane_id}, {"patch", request.patch},
                              {"base_updated_at", change.base}, {"conflict_policy", policy.conflict_policy}};
    try {
      plane::WritebackResult result = plane::apply_writeback(client, request);
      nlohmann::json row;  // the mirror row from Plane's answer; null when there is none
      std::string plane_id = change.plane_id;
      if (result.object.is_object() && result.object.contains("id")) {
        row = plane::map_work_item(result.object, change.project_id);
        plane_id = result.object["id"].get<std::string>();
      }
      details["plane_updated_at"] = result.plane_updated_at;
      switch (result.outcome) {
        case plane::WritebackOutcome::Applied:
          details["object"] = plane_id;
          record(slug, change, "applied", "writeback_applied", result.http_status, plane_id,
                 result.plane_updated_at, "", row, details.dump());
          ++summary.applied;
          break;
        case plane::WritebackOutcome::Conflict: {
          // Plane changed since the patch's base: Plane is left as it is, the mirror takes
          // Plane's version, and the patch is kept (keep_local) or dropped (plane_wins).
          const char* status = policy.conflict_policy == "plane_wins" ? "discarded" : "conflict";
          record(slug, change, status, "writeback_conflict", result.http_status, plane_id,
                 result.plane_updated_at, "Plane's work item changed since this change was made",
                 row, details.dump());
          ++summary.conflicts;
          break;
        }
        case plane::WritebackOutcome::Gone:
          record(slug, change, "gone", "writeback_gone", 404, plane_id, "",
                 "the work item no longer exists in Plane (deleted or archived)", nullptr, details.dump());
          ++summary.gone;
          break;
      }
    } catch (const plane::PlaneError& e) {
      if (e.kind() == plane::ErrorKind::Cancelled) throw;
      // Validation errors (4xx, a bad patch) fail now; transient ones retry on later runs.
      const bool again = e.retryable() || e.kind() == plane::ErrorKind::Auth;
      const bool give_up = !again || change.attempts + 1 >= kMaxAttempts;
      details["error"] = e.what();
      record(slug, change, give_up ? "failed" : "pending", give_up ? "writeback_failed" : "writeback_retry",
             e.http_status(), change.plane_id, "", e.what(), nullptr, details.dump());
      if (give_up) {
        ++summary.failed;
      } else {
        ++summary.retried;
        if (e.kind() == plane::ErrorKind::Auth) throw;  // the whole run fails clearly
      }
    }
  }
  return summary;
}

}  // namespace plane::pg
