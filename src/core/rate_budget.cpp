#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/rate_budget.hpp"

#include <algorithm>

namespace plane {

void budget_reset(BudgetState& state) {
  state.head = 0;
  state.count = 0;
  state.blocked_until_ms = 0;
  state.requests_total = 0;
  state.throttled_total = 0;
  state.last_remaining = -1;
}

void SlidingWindowBudget::expire(std::int64_t now_ms) {
  while (state_.count > 0 && state_.sent_ms[state_.head] + window_ms_ <= now_ms) {
    state_.head = (state_.head + 1) % BudgetState::kCapacity;
    --state_.count;
  }
}

int SlidingWindowBudget::headroom(std::int64_t now_ms) {
  expire(now_ms);
  const int limit = std::min(limit_, BudgetState::kCapacity);
  return std::max(0, limit - state_.count);
}

std::int64_t SlidingWindowBudget::reserve(std::int64_t now_ms) {
  // Plane's Retry-After (or an exhausted remaining count) holds even when we do not pace.
  if (state_.blocked_until_ms > now_ms) return state_.blocked_until_ms - now_ms;
  if (limit_ <= 0) {  // unlimited (a self-hosted Plane with throttling off)
    ++state_.requests_total;
    return 0;
  }
  expire(now_ms);
  const int limit = std::min(limit_, BudgetState::kCapacity);
  if (state_.count >= limit) {
    return std::max<std::int64_t>(1, state_.sent_ms[state_.head] + window_ms_ - now_ms);
  }
  const int tail = (state_.head + state_.count) % BudgetState::kCapacity;
  state_.sent_ms[tail] = now_ms;
  ++state_.count;
  ++state_.requests_total;
  return 0;
}

void SlidingWindowBudget::observe(std::int64_t now_ms, long status, std::optional<long> remaining,
                                  std::optional<long> retry_after_s) {
  if (status == 429) {
    ++state_.throttled_total;
    // Retry-After is whole seconds until the oldest request leaves Plane's window; without it,
    // wait for our own oldest entry to expire.
    std::int64_t until = retry_after_s ? now_ms + *retry_after_s * 1000 + 50 : now_ms + 1000;
    if (!retry_after_s && state_.count > 0) {
      until = std::max(until, state_.sent_ms[state_.head] + window_ms_);
    }
    state_.blocked_until_ms = std::max(state_.blocked_until_ms, until);
    return;
  }
  if (remaining) {
    state_.last_remaining = *remaining;
    // Someone else (another client of the same key) used part of the window: if Plane says
    // nothing is left, pause until our oldest request leaves the window rather than probe with 429s.
    if (*remaining <= 0 && state_.count > 0) {
      state_.blocked_until_ms =
          std::max(state_.blocked_until_ms, state_.sent_ms[state_.head] + window_ms_);
    }
  }
}

}  // namespace plane
