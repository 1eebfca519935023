// Unit tests for src/core/request_deadlines: the receiver's absolute per-request deadline, which a
// client trickling bytes cannot extend (unlike libmicrohttpd's idle timeout). Explicit clock.
#include <gtest/gtest.h>

#include "core/request_deadlines.hpp"

namespace {

using plane::RequestDeadlines;

int a = 0, b = 0;  // two connections: only their addresses matter

TEST(RequestDeadlines, ASocketIsOverdueOnceItsRequestOutlivesTheDeadline) {
  RequestDeadlines d;
  d.track(&a, 7, 1000);
  EXPECT_TRUE(d.overdue(10999, 10000).empty());
  EXPECT_EQ(d.overdue(11000, 10000), std::vector<int>{7});
  EXPECT_TRUE(d.overdue(20000, 10000).empty()) << "returned once: the caller has shut it down";
  EXPECT_EQ(d.size(), 1u) << "kept until libmicrohttpd reports it closed";
  d.forget(&a);
  EXPECT_EQ(d.size(), 0u);
}

TEST(RequestDeadlines, AnsweredRequestRestartsTheClockOfAKeptAliveConnection) {
  RequestDeadlines d;
  d.track(&a, 7, 0);
  d.restart(&a, 9000);
  EXPECT_TRUE(d.overdue(18999, 10000).empty());
  EXPECT_EQ(d.overdue(19000, 10000), std::vector<int>{7});
  d.restart(&a, 19500);  // answered just as it was shut down: it stays shut
  EXPECT_FALSE(d.next_expiry_ms(19500, 10000).has_value());
}

TEST(RequestDeadlines, NextExpiryIsTheEarliestPendingDeadline) {
  RequestDeadlines d;
  EXPECT_FALSE(d.next_expiry_ms(0, 10000).has_value());
  d.track(&a, 7, 0);
  d.track(&b, 8, 4000);
  EXPECT_EQ(d.next_expiry_ms(5000, 10000), 5000);
  EXPECT_EQ(d.next_expiry_ms(12000, 10000), 0) << "overdue and not yet shut down";
  EXPECT_EQ(d.overdue(12000, 10000), std::vector<int>{7});
  EXPECT_EQ(d.next_expiry_ms(12000, 10000), 2000);
  d.restart(&b, 12000);
  EXPECT_EQ(d.next_expiry_ms(12000, 10000), 10000);
}

TEST(RequestDeadlines, AShorterDeadlineAppliesToRequestsAlreadyRunning) {
  RequestDeadlines d;  // plane.webhook_request_deadline is reloadable (SIGHUP)
  d.track(&a, 7, 0);
  EXPECT_TRUE(d.overdue(3000, 10000).empty());
  EXPECT_EQ(d.overdue(3000, 2000), std::vector<int>{7});
}

}  // namespace
