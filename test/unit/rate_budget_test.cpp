// Unit tests for src/core/rate_budget: Plane throttles per API key with a sliding 60 s window
// (DRF SimpleRateThrottle); 429 carries Retry-After; allowed responses carry
// X-RateLimit-Remaining. All tests drive an explicit fake clock (plain integers).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "core/rate_budget.hpp"
#include "core/runtime.hpp"

namespace {

using plane::BudgetState;
using plane::SlidingWindowBudget;

struct Budget {
  std::unique_ptr<BudgetState> state = std::make_unique<BudgetState>();
  SlidingWindowBudget budget;
  Budget(int limit, std::int64_t window_ms) : budget(*state, limit, window_ms) {
    plane::budget_reset(*state);
  }
};

// Asserts that no window [t, t + window_ms) contains more than `limit` of `sends` (sorted).
void expect_never_more_than(const std::vector<std::int64_t>& sends, int limit,
                            std::int64_t window_ms) {
  for (size_t i = 0; i < sends.size(); ++i) {
    const auto end = std::lower_bound(sends.begin(), sends.end(), sends[i] + window_ms);
    const auto in_window = end - (sends.begin() + static_cast<long>(i));
    ASSERT_LE(in_window, limit) << "window starting at " << sends[i] << " ms";
  }
}

TEST(BudgetReset, ClearsEverything) {
  BudgetState s;
  s.head = 5;
  s.count = 7;
  s.blocked_until_ms = 99;
  s.requests_total = 3;
  s.throttled_total = 2;
  s.last_remaining = 10;
  plane::budget_reset(s);
  EXPECT_EQ(s.head, 0);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.blocked_until_ms, 0);
  EXPECT_EQ(s.requests_total, 0);
  EXPECT_EQ(s.throttled_total, 0);
  EXPECT_EQ(s.last_remaining, -1);
}

TEST(SlidingWindow, BurstUpToLimitThenWaitForOldest) {
  Budget b(3, 1000);
  EXPECT_EQ(b.budget.reserve(0), 0);
  EXPECT_EQ(b.budget.reserve(100), 0);
  EXPECT_EQ(b.budget.reserve(200), 0);
  EXPECT_EQ(b.budget.headroom(200), 0);
  // The oldest (t=0) leaves the window at t=1000.
  EXPECT_EQ(b.budget.reserve(300), 700);
  EXPECT_EQ(b.budget.reserve(999), 1);
  EXPECT_EQ(b.budget.reserve(1000), 0);
  // Now the oldest is t=100.
  EXPECT_EQ(b.budget.reserve(1000), 100);
  EXPECT_EQ(b.state->requests_total, 4);
}

TEST(SlidingWindow, RefusedReservationTakesNoSlot) {
  Budget b(1, 1000);
  ASSERT_EQ(b.budget.reserve(0), 0);
  for (int i = 0; i < 10; ++i) EXPECT_GT(b.budget.reserve(10 * i), 0);
  EXPECT_EQ(b.state->requests_total, 1);
  EXPECT_EQ(b.state->count, 1);
  EXPECT_EQ(b.budget.reserve(1000), 0);
}

TEST(SlidingWindow, HeadroomCountsDown) {
  Budget b(5, 60000);
  EXPECT_EQ(b.budget.headroom(0), 5);
  b.budget.reserve(0);
  b.budget.reserve(1);
  EXPECT_EQ(b.budget.headroom(2), 3);
  EXPECT_EQ(b.budget.headroom(60000), 4);  // the t=0 send has left the window
  EXPECT_EQ(b.budget.headroom(60001), 5);
}

TEST(SlidingWindow, WaitsReturnedAreExact) {
  // Whatever wait reserve() returns, asking 1 ms earlier is still refused and asking exactly then
  // succeeds: the wait is neither too short (a 429) nor longer than needed.
  std::mt19937 rng(12345);
  for (int limit : {1, 2, 5, 60}) {
    Budget b(limit, 60000);
    std::int64_t now = 0;
    std::uniform_int_distribution<int> step(0, 3000);
    for (int i = 0; i < 500; ++i) {
      now += step(rng);
      const std::int64_t wait = b.budget.reserve(now);
      if (wait == 0) continue;
      ASSERT_GT(wait, 0);
      if (wait > 1) {
        ASSERT_GT(b.budget.reserve(now + wait - 1), 0) << "limit " << limit << " at " << now;
      }
      ASSERT_EQ(b.budget.reserve(now + wait), 0) << "limit " << limit << " at " << now;
      now += wait;
    }
  }
}

TEST(SlidingWindow, NeverMoreThanLimitInAnyWindow) {
  // A client that sends as soon as it is allowed, with random think times and random early
  // retries, never exceeds `limit` sends in any window of the configured length.
  std::mt19937 rng(777);
  for (int limit : {1, 3, 60, 300}) {
    const std::int64_t window = 60000;
    Budget b(limit, window);
    std::vector<std::int64_t> sends;
    std::int64_t now = 0;
    std::uniform_int_distribution<int> think(0, 400);
    std::uniform_int_distribution<int> coin(0, 3);
    while (sends.size() < static_cast<size_t>(limit) * 5 + 20) {
      const std::int64_t wait = b.budget.reserve(now);
      if (wait == 0) {
        sends.push_back(now);
        now += think(rng);
      } else if (coin(rng) == 0) {
        now += std::max<std::int64_t>(1, wait / 2);  // impatient: asks again early
      } else {
        now += wait;
      }
    }
    SCOPED_TRACE(limit);
    expect_never_more_than(sends, limit, window);
    EXPECT_EQ(b.state->requests_total, static_cast<std::int64_t>(sends.size()));
  }
}

TEST(SlidingWindow, PatientGreedyClientGetsTheFullRate) {
  // Pacing is not needlessly slow: a client that always waits exactly as told sends `limit`
  // requests at the start of each window, and the next batch exactly one window later.
  const int limit = 60;
  const std::int64_t window = 60000;
  Budget b(limit, window);
  std::vector<std::int64_t> sends;
  std::int64_t now = 0;
  while (sends.size() < 4 * static_cast<size_t>(limit)) {
    const std::int64_t wait = b.budget.reserve(now);
    if (wait == 0) {
      sends.push_back(now);
    } else {
      now += wait;
    }
  }
  for (size_t i = 0; i < sends.size(); ++i) {
    ASSERT_EQ(sends[i], static_cast<std::int64_t>(i / limit) * window) << i;
  }
}

TEST(SlidingWindow, RingWrapsPastCapacity) {
  // More sends than the ring holds, over many windows: the ring must recycle its slots.
  const int limit = 10;
  Budget b(limit, 100);
  std::vector<std::int64_t> sends;
  std::int64_t now = 0;
  while (sends.size() < 3 * BudgetState::kCapacity) {
    const std::int64_t wait = b.budget.reserve(now);
    if (wait == 0) {
      sends.push_back(now);
    } else {
      now += wait;
    }
  }
  expect_never_more_than(sends, limit, 100);
  EXPECT_LE(b.state->count, limit);
}

TEST(SlidingWindow, LimitAboveCapacityIsClampedNotOverrun) {
  Budget b(5000, 60000);
  for (int i = 0; i < BudgetState::kCapacity; ++i) ASSERT_EQ(b.budget.reserve(i), 0) << i;
  EXPECT_GT(b.budget.reserve(BudgetState::kCapacity), 0);
  EXPECT_EQ(b.state->count, BudgetState::kCapacity);
}

TEST(SlidingWindow, UnlimitedNeverWaits) {
  Budget b(0, 60000);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(b.budget.reserve(0), 0);
  EXPECT_EQ(b.state->requests_total, 5000);
  EXPECT_EQ(b.state->count, 0);  // nothing is tracked, so nothing can overflow the ring
}

TEST(SlidingWindow, RetryAfterBlocksAtLeastThatLong) {
  Budget b(60, 60000);
  ASSERT_EQ(b.budget.reserve(1000), 0);
  b.budget.observe(1200, 429, std::nullopt, 7);
  EXPECT_EQ(b.state->throttled_total, 1);
  const std::int64_t wait = b.budget.reserve(1200);
  EXPECT_GE(wait, 7000);
  EXPECT_LE(wait, 8000);
  EXPECT_GT(b.budget.reserve(1200 + 6999), 0);
  EXPECT_EQ(b.budget.reserve(1200 + wait - 1), 1);
  EXPECT_EQ(b.budget.reserve(1200 + wait), 0);
}

TEST(SlidingWindow, LaterShorterRetryAfterDoesNotShortenTheBlock) {
  Budget b(60, 60000);
  b.budget.observe(0, 429, std::nullopt, 30);
  b.budget.observe(100, 429, std::nullopt, 1);
  EXPECT_GE(b.budget.reserve(100), 29900);
  EXPECT_EQ(b.state->throttled_total, 2);
}

TEST(SlidingWindow, RetryAfterZeroStillAllowsPromptRetry) {
  Budget b(60, 60000);
  b.budget.observe(0, 429, std::nullopt, 0);
  const std::int64_t wait = b.budget.reserve(0);
  EXPECT_GE(wait, 0);
  EXPECT_LE(wait, 1000);
  EXPECT_EQ(b.budget.reserve(wait), 0);
}

TEST(SlidingWindow, TooManyRequestsWithoutRetryAfterWaitsForOldest) {
  Budget b(60, 60000);
  ASSERT_EQ(b.budget.reserve(0), 0);
  ASSERT_EQ(b.budget.reserve(10), 0);
  b.budget.observe(20, 429, std::nullopt, std::nullopt);
  // Our oldest request (t=0) leaves the window at t=60000.
  EXPECT_EQ(b.budget.reserve(20), 60000 - 20);
  EXPECT_EQ(b.budget.reserve(60000), 0);
}

TEST(SlidingWindow, TooManyRequestsWithoutAnyHistoryWaitsAMoment) {
  Budget b(60, 60000);
  b.budget.observe(0, 429, std::nullopt, std::nullopt);
  const std::int64_t wait = b.budget.reserve(0);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 60000);
}

TEST(SlidingWindow, RemainingZeroPausesUntilOldestLeaves) {
  // Another client of the same key used the window: Plane says nothing is left.
  Budget b(60, 60000);
  ASSERT_EQ(b.budget.reserve(5000), 0);
  ASSERT_EQ(b.budget.reserve(6000), 0);
  b.budget.observe(6100, 200, 0, std::nullopt);
  EXPECT_EQ(b.state->last_remaining, 0);
  EXPECT_EQ(b.budget.reserve(6100), 65000 - 6100);
  EXPECT_EQ(b.budget.reserve(65000), 0);
  EXPECT_EQ(b.state->throttled_total, 0);  // a pause is not a 429
}

TEST(SlidingWindow, PositiveRemainingDoesNotPause) {
  Budget b(60, 60000);
  ASSERT_EQ(b.budget.reserve(0), 0);
  b.budget.observe(10, 200, 58, std::nullopt);
  EXPECT_EQ(b.state->last_remaining, 58);
  EXPECT_EQ(b.budget.reserve(10), 0);
}

TEST(SlidingWindow, SuccessWithoutHeadersChangesNothing) {
  Budget b(2, 60000);
  ASSERT_EQ(b.budget.reserve(0), 0);
  b.budget.observe(1, 200, std::nullopt, std::nullopt);
  EXPECT_EQ(b.state->last_remaining, -1);
  EXPECT_EQ(b.budget.reserve(2), 0);
  EXPECT_EQ(b.state->throttled_total, 0);
}

TEST(SlidingWindow, UnlimitedStillHonoursRetryAfter) {
  // plane.rate_limit_per_minute = 0 means "do not pace": but when Plane does throttle, its
  // Retry-After must still hold us back, or the client hammers it with 429s.
  Budget b(0, 60000);
  ASSERT_EQ(b.budget.reserve(0), 0);
  b.budget.observe(100, 429, std::nullopt, 5);
  const std::int64_t wait = b.budget.reserve(100);
  EXPECT_GE(wait, 5000);
  EXPECT_EQ(b.budget.reserve(100 + wait), 0);
}

TEST(SlidingWindow, SharedStateIsSharedBetweenBudgets) {
  // Two workers using the same key share one BudgetState (in shared memory in production).
  auto state = std::make_unique<BudgetState>();
  plane::budget_reset(*state);
  SlidingWindowBudget a(*state, 2, 1000);
  SlidingWindowBudget c(*state, 2, 1000);
  EXPECT_EQ(a.reserve(0), 0);
  EXPECT_EQ(c.reserve(1), 0);
  EXPECT_EQ(a.reserve(2), 998);
  EXPECT_EQ(c.reserve(2), 998);
}

TEST(LocalRequestBudget, DelegatesToSlidingWindow) {
  plane::LocalRequestBudget budget(2, 1000);
  EXPECT_EQ(budget.state().last_remaining, -1);
  EXPECT_EQ(budget.reserve(0), 0);
  EXPECT_EQ(budget.reserve(0), 0);
  EXPECT_EQ(budget.reserve(0), 1000);
  budget.observe(0, 429, std::nullopt, 3);
  EXPECT_GE(budget.reserve(1000), 2000);
  EXPECT_EQ(budget.state().throttled_total, 1);
  EXPECT_EQ(budget.state().requests_total, 2);
}

}  // namespace
