// SQL-callable functions implemented in C++ (declared in control/plane_connector--*.sql).
#include <stdexcept>

#include "pg/boundary.hpp"
#include "pg/shared_state.hpp"

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
