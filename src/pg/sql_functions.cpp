// SQL-callable functions implemented in C++ (declared in control/plane_connector--*.sql).
#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "core/errors.hpp"
#include "core/rate_budget.hpp"
#include "core/writeback.hpp"
#include "pg/boundary.hpp"
#include "pg/event_queue.hpp"
#include "pg/mcp_call.hpp"
#include "pg/webhook_ingest.hpp"
#include "pg/gucs.hpp"
#include "pg/jsonb_bridge.hpp"
#include "pg/jsonb_tokens.hpp"
#include "pg/shared_state.hpp"

extern "C" {
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
}

namespace {

bool wake_at_commit = false;
bool xact_callback_registered = false;

// Wakes the launcher only once the transaction that asked for a sync has committed: waking it
// earlier would let it look before the request is visible, and then sleep.
void on_xact_event(XactEvent event, void* arg) {
  switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
      if (wake_at_commit) plane::pg::wake_launcher();
      wake_at_commit = false;
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
      wake_at_commit = false;
      break;
    default:
      break;
  }
}

// For the boundary tests: counts destructors that ran during stack unwinding.
int destructors_run = 0;

struct CountsDestruction {
  ~CountsDestruction() { ++destructors_run; }
};

}  // namespace

// work_plane._wake_launcher_at_commit() → boolean: whether a launcher is running to be woken.
PLANE_SQL_FUNCTION(plane_wake_launcher_at_commit) {
  if (!xact_callback_registered) {
    RegisterXactCallback(on_xact_event, nullptr);
    xact_callback_registered = true;
  }
  wake_at_commit = true;
  PG_RETURN_BOOL(plane::pg::launcher_pid() != 0);
}

// work_plane.launcher_pid() → int: the launcher's pid, NULL when none runs.
PLANE_SQL_FUNCTION(plane_launcher_pid) {
  const pid_t pid = plane::pg::launcher_pid();
  if (pid == 0) PG_RETURN_NULL();
  PG_RETURN_INT32(pid);
}

// work_plane._boundary_test(mode text) → int, for the regression tests of the boundary:
//  'cpp_exception': a C++ exception must surface as a clean ERROR;
//  'pg_error': a Postgres ERROR raised under C++ frames must unwind them (destructors run) and
//              surface as the same ERROR;
//  'count': destructors run so far in this backend.
PLANE_SQL_FUNCTION(plane_boundary_test) {
  text* mode_text = PG_GETARG_TEXT_PP(0);
  const std::string mode(VARDATA_ANY(mode_text), VARSIZE_ANY_EXHDR(mode_text));
  if (mode == "count") PG_RETURN_INT32(destructors_run);
  if (mode == "cpp_exception") {
    CountsDestruction guard;
    throw std::runtime_error("boundary test: thrown from C++");
  }
  if (mode == "pg_error") {
    CountsDestruction guard;
    plane::pg::pg_call([]() noexcept {
      ereport(ERROR, (errcode(ERRCODE_DIVISION_BY_ZERO), errmsg("boundary test: raised by Postgres")));
    });
    PG_RETURN_INT32(-1);  // not reached
  }
  if (mode == "pg_ok") {
    int value = 0;
    plane::pg::pg_call([&]() noexcept { value = DatumGetInt32(DirectFunctionCall2(int4pl, Int32GetDatum(40), Int32GetDatum(2))); });
    PG_RETURN_INT32(value);
  }
  throw std::invalid_argument("unknown boundary test mode: " + mode);
}

namespace {

// A copy taken under the budget spinlock, so that no Postgres call happens while it is held.
struct BudgetRow {
  char key[13];
  int in_window;
  int headroom;
  std::int64_t requests_total;
  std::int64_t throttled_total;
  std::int64_t blocked_for_ms;
  std::int64_t last_remaining;
};

}  // namespace

// work_plane.rate_budgets(): one row per API key budget in shared memory.
PLANE_SQL_FUNCTION(plane_rate_budgets) {
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  plane::pg::SharedState* shared = plane::pg::shared_state();
  if (shared == nullptr) PG_RETURN_NULL();
  const int limit = plane::pg::settings.rate_limit_per_minute;
  const std::int64_t now_ms = GetCurrentTimestamp() / 1000;
  BudgetRow rows[plane::pg::kBudgetSlots];
  int n = 0;
  SpinLockAcquire(&shared->budget_mutex);
  for (auto& slot : shared->budgets) {
    if (slot.key_id[0] == '\0') continue;
    BudgetRow& row = rows[n++];
    strlcpy(row.key, slot.key_id, sizeof row.key);
    plane::SlidingWindowBudget budget(slot.state, limit, plane::pg::settings.rate_limit_window_s * 1000LL + 250);
    row.headroom = budget.headroom(now_ms);
    row.in_window = slot.state.count;
    row.requests_total = slot.state.requests_total;
    row.throttled_total = slot.state.throttled_total;
    row.blocked_for_ms = std::max<std::int64_t>(0, slot.state.blocked_until_ms - now_ms);
    row.last_remaining = slot.state.last_remaining;
  }
  SpinLockRelease(&shared->budget_mutex);
  for (int i = 0; i < n; ++i) {
    Datum values[9] = {CStringGetTextDatum(rows[i].key), Int32GetDatum(rows[i].in_window),
                       Int32GetDatum(limit), Int32GetDatum(plane::pg::settings.rate_limit_window_s),
                       Int32GetDatum(rows[i].headroom),
                       Int64GetDatum(rows[i].requests_total), Int64GetDatum(rows[i].throttled_total),
                       Int64GetDatum(rows[i].blocked_for_ms),
                       Int32GetDatum(static_cast<int32>(rows[i].last_remaining))};
    bool nulls[9] = {false, false, false, false, false, false, false, false, rows[i].last_remaining < 0};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  PG_RETURN_NULL();
}

// work_plane.ingest_webhook(workspace_slug text, headers jsonb, body text) → int (HTTP status).
PLANE_SQL_FUNCTION(plane_ingest_webhook) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(2)) PG_RETURN_INT32(PG_ARGISNULL(0) ? 404 : 400);
  // Every Postgres call (detoasting, flattening) before any C++ object exists in this frame. The
  // headers are read out of the jsonb, not rendered as text and parsed again.
  text* slug_text = PG_GETARG_TEXT_PP(0);
  text* body_text = PG_GETARG_TEXT_PP(2);
  const plane::pg::JsonbTokens header_tokens =
      PG_ARGISNULL(1) ? plane::pg::JsonbTokens{nullptr, 0} : plane::pg::flatten_jsonb(PG_GETARG_JSONB_P(1));
  const std::string slug(VARDATA_ANY(slug_text), VARSIZE_ANY_EXHDR(slug_text));
  const std::string_view body(VARDATA_ANY(body_text), VARSIZE_ANY_EXHDR(body_text));
  PG_RETURN_INT32(plane::pg::ingest_webhook(
      slug, plane::headers_from_tokens(header_tokens.tokens, header_tokens.count), body));
}

// work_plane.process_events(max_events int) → int: events applied.
PLANE_SQL_FUNCTION(plane_process_events) {
  const int max_events = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);
  if (max_events < 0) throw plane::PlaneError(plane::ErrorKind::Config, "max_events must be >= 0");
  PG_RETURN_INT32(plane::pg::process_events_inline(max_events));
}

// work_plane.webhook_counters(): deliveries per workspace since the server started.
PLANE_SQL_FUNCTION(plane_webhook_counters) {
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  plane::pg::SharedState* shared = plane::pg::shared_state();
  if (shared == nullptr) PG_RETURN_NULL();
  for (auto& c : shared->counters) {
    if (c.slug[0] == '\0') continue;
    Datum values[7] = {CStringGetTextDatum(c.slug),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c.accepted))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c.duplicates))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c.unauthorized))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c.malformed))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c.too_large))),
                       Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&c.applied)))};
    bool nulls[7] = {false, false, false, false, false, false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  PG_RETURN_NULL();
}

// work_plane.queue_worker_pid() → int, NULL when none runs.
PLANE_SQL_FUNCTION(plane_queue_worker_pid) {
  const pid_t pid = plane::pg::queue_worker_pid();
  if (pid == 0) PG_RETURN_NULL();
  PG_RETURN_INT32(pid);
}

// work_plane._wake_queue_at_commit() → boolean: whether a queue worker runs to be woken.
PLANE_SQL_FUNCTION(plane_wake_queue_at_commit) {
  plane::pg::wake_queue_worker_at_commit();
  PG_RETURN_BOOL(plane::pg::queue_worker_pid() != 0);
}

// work_plane._validate_patch(patch jsonb, creating boolean) → jsonb: the Plane body, or a clear ERROR.
PLANE_SQL_FUNCTION(plane_validate_patch) {
  Jsonb* jb = PG_GETARG_JSONB_P(0);
  const bool creating = PG_GETARG_BOOL(1);
  PG_RETURN_DATUM(plane::pg::jsonb_datum(plane::plane_write_body(plane::pg::json_from_jsonb(jb), creating)));
}

// work_plane.mcp_call(workspace_slug text, tool text, arguments jsonb) → jsonb
PLANE_SQL_FUNCTION(plane_mcp_call) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
    throw plane::PlaneError(plane::ErrorKind::Config, "workspace_slug and tool are required");
  }
  // Every Postgres call (detoasting) before any C++ object exists in this frame.
  text* slug_text = PG_GETARG_TEXT_PP(0);
  text* tool_text = PG_GETARG_TEXT_PP(1);
  Jsonb* args = PG_ARGISNULL(2) ? nullptr : PG_GETARG_JSONB_P(2);
  const std::string slug(VARDATA_ANY(slug_text), VARSIZE_ANY_EXHDR(slug_text));
  const std::string tool(VARDATA_ANY(tool_text), VARSIZE_ANY_EXHDR(tool_text));
  const nlohmann::json arguments = args != nullptr ? plane::pg::json_from_jsonb(args) : nlohmann::json::object();
  PG_RETURN_DATUM(plane::pg::jsonb_datum(plane::pg::mcp_call(slug, tool, arguments)));
}

// work_plane.mcp_tools(workspace_slug text) → jsonb
PLANE_SQL_FUNCTION(plane_mcp_tools) {
  text* slug_text = PG_GETARG_TEXT_PP(0);
  const std::string slug(VARDATA_ANY(slug_text), VARSIZE_ANY_EXHDR(slug_text));
  PG_RETURN_DATUM(plane::pg::jsonb_datum(plane::pg::mcp_tools(slug)));
}
