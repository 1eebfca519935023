#include "pg/worker_start.hpp"

#include <algorithm>

#include "pg/gucs.hpp"

namespace plane::pg {

void pin_search_path() {
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
}

void connect_static_worker(StaticWorker which) {
  SharedState* shared = shared_state();
  pg_atomic_uint32* failures =
      shared != nullptr ? &shared->failed_starts[static_cast<int>(which)] : nullptr;
  if (failures != nullptr) {
    const uint32 n = pg_atomic_read_u32(failures);
    if (n > 0) {
      const long pause_ms = std::min<long>(60000, 1000L << std::min<uint32>(n - 1, 6));
      const TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pause_ms);
      for (;;) {
        const long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
        if (left <= 0 || ShutdownRequestPending) break;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
      }
      if (ShutdownRequestPending) proc_exit(0);
    }
    // Counted before the attempt: a failure to connect ends the process (FATAL) right here.
    pg_atomic_fetch_add_u32(failures, 1);
  }
  BackgroundWorkerInitializeConnection(settings.database, nullptr, 0);
  if (failures != nullptr) pg_atomic_write_u32(failures, 0);
  pin_search_path();
}

}  // namespace plane::pg
