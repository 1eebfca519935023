#include "pg/latch_waiter.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "pg/pg_prelude.hpp"
#include "pg/shared_state.hpp"

namespace plane::pg {

bool LatchWaiter::cancelled() {
  // Only reads flags set by signal handlers and work_plane.cancel_sync; never calls
  // CHECK_FOR_INTERRUPTS (that could longjmp or exit from under C++ frames).
  return ProcDiePending || QueryCancelPending || ShutdownRequestPending || running_sync_cancelled();
}

void LatchWaiter::wait_ms(std::int64_t ms) {
  const std::int64_t deadline = now_ms() + ms;
  for (;;) {
    if (cancelled()) throw PlaneError(ErrorKind::Cancelled, "stopped while waiting");
    const std::int64_t left = deadline - now_ms();
    if (left <= 0) return;
    const long slice = static_cast<long>(std::min<std::int64_t>(left, 100));
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, slice,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

std::int64_t LatchWaiter::now_ms() { return GetCurrentTimestamp() / 1000; }

}  // namespace plane::pg
