#include <gtest/gtest.h>

#include "core/timestamp.hpp"

TEST(Timestamp, ParsesOffset) {
  auto a = plane::parse_timestamp_micros("2026-03-01T17:05:09.123456+05:30");
  auto b = plane::parse_timestamp_micros("2026-03-01T11:35:09.123456Z");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}
