// How core code waits inside a Postgres process: on the process latch, in slices short enough that
// SIGTERM (die → ProcDiePending), a query cancel or a shutdown request stops it within ~100 ms.
#pragma once

#include <cstdint>

#include "core/runtime.hpp"

namespace plane::pg {

class LatchWaiter final : public plane::Waiter {
 public:
  bool cancelled() override;
  void wait_ms(std::int64_t ms) override;
  std::int64_t now_ms() override;
};

}  // namespace plane::pg
