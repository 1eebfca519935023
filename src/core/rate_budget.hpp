#pragma once

#include <cstdint>
#include <optional>

namespace plane {

// Plane allows N requests per sliding window per API key, shared by every endpoint
// (Django REST framework's throttle, keyed on the API key). The state is plain data so that it can live in shared memory and be shared by
// every worker using the same key; the caller provides the locking.
struct BudgetState {
  static constexpr int kCapacity = 1024;  // largest limit we can track exactly
  std::int64_t sent_ms[kCapacity];        // ring of send times within the window
  int head;                               // index of the oldest entry
  int count;                              // entries in the ring
  std::int64_t blocked_until_ms;          // set by Retry-After or an exhausted remaining count
  std::int64_t requests_total;            // figures for sync_status
  std::int64_t throttled_total;           // 429s seen
  std::int64_t last_remaining;            // last X-RateLimit-Remaining seen, -1 if none
};

void budget_reset(BudgetState& state);

// Sliding-window pacing that never bursts past `limit` requests per `window_ms`.
class SlidingWindowBudget {
 public:
  SlidingWindowBudget(BudgetState& state, int limit, std::int64_t window_ms)
      : state_(state), limit_(limit), window_ms_(window_ms) {}

  // Milliseconds to wait before a request may be sent. When it returns 0 the slot is taken.
  std::int64_t reserve(std::int64_t now_ms);

  // Feeds back what Plane said: X-RateLimit-Remaining on allowed responses, Retry-After on 429.
  void observe(std::int64_t now_ms, long status, std::optional<long> remaining,
               std::optional<long> retry_after_s);

  // Requests still allowed in the current window, as we count them.
  int headroom(std::int64_t now_ms);

 private:
  void expire(std::int64_t now_ms);
  BudgetState& state_;
  int limit_;
  std::int64_t window_ms_;
};

}  // namespace plane
