#include "pg/audit_outbox.hpp"

#include <cstdio>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg/boundary.hpp"
#include "pg/spi_plan.hpp"
#include "pg/shared_state.hpp"

namespace plane::pg {

namespace {

struct AuditRow {
  std::string source, slug, action, details;
  int status;
};

void insert_rows(const std::vector<AuditRow>& rows) noexcept {
  for (const auto& r : rows) {
    Oid types[5] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID};
    Datum values[5] = {CStringGetTextDatum(r.source.c_str()), CStringGetTextDatum(r.slug.c_str()),
                       CStringGetTextDatum(r.action.c_str()), Int32GetDatum(r.status),
                       CStringGetTextDatum(r.details.c_str())};
    const char nulls[5] = {' ', r.slug.empty() ? 'n' : ' ', ' ', r.status == 0 ? 'n' : ' ', ' '};
    exec_sql(
        "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        5, types, values, nulls, false, SPI_OK_INSERT);
  }
}

// Details that do not fit are replaced by a marker rather than cut into invalid JSON.
std::string fitting(const std::string& details, size_t size) {
  if (details.size() < size) return details;
  return nlohmann::json{{"truncated", true}, {"bytes", details.size()}}.dump();
}

}  // namespace

bool audit_outside_transaction(const char* source, const std::string& workspace_slug,
                               const std::string& action, int plane_response_status,
                               const std::string& details_json) {
  SharedState* shared = shared_state();
  if (shared != nullptr && queue_worker_pid() != 0) {
    for (auto& slot : shared->audit) {
      uint32 expected = 0;
      if (!pg_atomic_compare_exchange_u32(&slot.state, &expected, 1)) continue;
      strlcpy(slot.source, source, sizeof slot.source);
      strlcpy(slot.workspace_slug, workspace_slug.c_str(), sizeof slot.workspace_slug);
      strlcpy(slot.action, action.c_str(), sizeof slot.action);
      slot.plane_response_status = plane_response_status;
      strlcpy(slot.details, fitting(details_json, sizeof slot.details).c_str(), sizeof slot.details);
      pg_write_barrier();
      pg_atomic_write_u32(&slot.state, 2);
      wake_queue_worker();
      return true;
    }
    pg_atomic_fetch_add_u64(&shared->audit_dropped, 1);
  }
  std::vector<AuditRow> rows{{source, workspace_slug, action, details_json, plane_response_status}};
  pg_call([&]() noexcept {
    spi_connect();
    insert_rows(rows);
    SPI_finish();
  });
  return false;
}

int flush_audit_outbox() {
  SharedState* shared = shared_state();
  if (shared == nullptr) return 0;
  std::vector<AuditRow> rows;
  std::vector<AuditSlot*> taken;
  for (auto& slot : shared->audit) {
    if (pg_atomic_read_u32(&slot.state) != 2) continue;
    pg_read_barrier();
    rows.push_back({slot.source, slot.workspace_slug, slot.action, slot.details, slot.plane_response_status});
    taken.push_back(&slot);
  }
  if (rows.empty()) return 0;
  in_transaction([&]() noexcept { insert_rows(rows); });
  for (AuditSlot* slot : taken) pg_atomic_write_u32(&slot->state, 0);  // only once committed
  return static_cast<int>(rows.size());
}

}  // namespace plane::pg
