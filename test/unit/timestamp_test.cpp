// Unit tests for src/core/timestamp: Plane renders datetimes in the API key owner's timezone, so
// every offset form must land on the same UTC instant.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <vector>
#include <optional>
#include <string>

#include "core/timestamp.hpp"

namespace {

using plane::format_timestamp_utc;
using plane::is_valid_date;
using plane::parse_timestamp_micros;

constexpr std::int64_t kSec = 1000000;
// 2026-03-01T11:35:09Z (date -u -d '2026-03-01T11:35:09Z' +%s).
constexpr std::int64_t kBase = 1772364909LL * kSec;

TEST(ParseTimestamp, UtcZulu) {
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09Z"), kBase);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09z"), kBase);
  EXPECT_EQ(parse_timestamp_micros("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_timestamp_micros("2000-01-01T00:00:00Z"), 946684800LL * kSec);
}

TEST(ParseTimestamp, PositiveOffsetWithColon) {
  // India, as DRF renders it for a user with user_timezone Asia/Kolkata.
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T17:05:09.123456+05:30"), kBase + 123456);
}

TEST(ParseTimestamp, NegativeOffsetWithColon) {
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T03:35:09-08:00"), kBase);
}

TEST(ParseTimestamp, CompactAndHourOnlyOffsets) {
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T17:05:09+0530"), kBase);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T16:35:09+05"), kBase);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T06:35:09-05"), kBase);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09+00:00"), kBase);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09-00:00"), kBase);
}

TEST(ParseTimestamp, OffsetCrossesDayMonthAndYearBoundaries) {
  // 2026-01-01T05:00:00+05:30 is still the last day of 2025 in UTC.
  EXPECT_EQ(parse_timestamp_micros("2026-01-01T05:00:00+05:30"), 1767223800LL * kSec);
  EXPECT_EQ(parse_timestamp_micros("2025-12-31T15:30:00-08:00"), 1767223800LL * kSec);
  // Leap day, reached by a negative offset from 1 March.
  EXPECT_EQ(parse_timestamp_micros("2024-02-28T20:00:00-04:00"), 1709164800LL * kSec);
  EXPECT_EQ(parse_timestamp_micros("2024-02-29T05:30:00+05:30"), 1709164800LL * kSec);
}

TEST(ParseTimestamp, SpaceSeparatorAccepted) {
  EXPECT_EQ(parse_timestamp_micros("2026-03-01 11:35:09Z"), kBase);
}

TEST(ParseTimestamp, FractionDigitsZeroToNine) {
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09Z"), kBase);
  // One to nine digits: scaled to microseconds, digits beyond the sixth truncated.
  const struct {
    const char* text;
    std::int64_t micros;
  } cases[] = {
      {"2026-03-01T11:35:09.1Z", 100000},
      {"2026-03-01T11:35:09.12Z", 120000},
      {"2026-03-01T11:35:09.123Z", 123000},
      {"2026-03-01T11:35:09.1234Z", 123400},
      {"2026-03-01T11:35:09.12345Z", 123450},
      {"2026-03-01T11:35:09.123456Z", 123456},
      {"2026-03-01T11:35:09.1234567Z", 123456},
      {"2026-03-01T11:35:09.12345678Z", 123456},
      {"2026-03-01T11:35:09.123456789Z", 123456},
      {"2026-03-01T11:35:09.000001Z", 1},
      {"2026-03-01T11:35:09.999999999Z", 999999},
      {"2026-03-01T17:05:09.5+05:30", 500000},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(parse_timestamp_micros(c.text), kBase + c.micros);
  }
}

TEST(ParseTimestamp, EmptyFractionRejected) {
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09.Z"), std::nullopt);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09.+05:30"), std::nullopt);
}

TEST(ParseTimestamp, MissingOffsetRejected) {
  // Without an offset the instant is ambiguous: the parser must refuse rather than guess.
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09"), std::nullopt);
  EXPECT_EQ(parse_timestamp_micros("2026-03-01T11:35:09.123456"), std::nullopt);
}

TEST(ParseTimestamp, BadCalendarFieldsRejected) {
  const char* bad[] = {
      "2026-13-01T11:35:09Z",  // month 13
      "2026-00-01T11:35:09Z",  // month 0
      "2026-04-31T11:35:09Z",  // April has 30 days
      "2026-03-32T11:35:09Z",  // day 32
      "2026-03-00T11:35:09Z",  // day 0
      "2025-02-29T11:35:09Z",  // not a leap year
      "1900-02-29T11:35:09Z",  // divisible by 100, not by 400
      "0000-01-01T00:00:00Z",  // no year zero
      "2026-03-01T24:00:00Z",  // hour 24
      "2026-03-01T11:60:09Z",  // minute 60
      "2026-03-01T11:35:61Z",  // second 61
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_timestamp_micros(text), std::nullopt);
  }
  // Leap days that exist.
  EXPECT_TRUE(parse_timestamp_micros("2024-02-29T00:00:00Z").has_value());
  EXPECT_TRUE(parse_timestamp_micros("2000-02-29T00:00:00Z").has_value());
}

TEST(ParseTimestamp, BadOffsetsRejected) {
  const char* bad[] = {
      "2026-03-01T11:35:09+5",       // one-digit hour
      "2026-03-01T11:35:09+05:3",    // one-digit minute
      "2026-03-01T11:35:09+24:00",   // hour out of range
      "2026-03-01T11:35:09+05:60",   // minute out of range
      "2026-03-01T11:35:09+05:30Z",  // two offsets
      "2026-03-01T11:35:09+05:30:00",
      "2026-03-01T11:35:09ZZ",
      "2026-03-01T11:35:09 +05:30",
      "2026-03-01T11:35:09+",
      "2026-03-01T11:35:09+05:",  // dangling separator: not ISO 8601
      "2026-03-01T11:35:09UTC",
      "2026-03-01T11:35:09+ab:cd",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_timestamp_micros(text), std::nullopt);
  }
}

TEST(ParseTimestamp, GarbageRejected) {
  const char* bad[] = {
      "",
      "None",
      "null",
      "2026-03-01",  // a date is not a datetime
      "2026-03-01T",
      "2026-03-01T11:35Z",
      "2026/03/01T11:35:09Z",
      "2026-03-01X11:35:09Z",
      "2026-3-1T11:35:09Z",
      "20260301T113509Z",
      "2026-03-01T11-35-09Z",
      "2026-03-01T1a:35:09Z",
      "  2026-03-01T11:35:09Z",
      "2026-03-01T11:35:09Z ",
      "abcdefghijklmnopqrstuvwxyz",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parse_timestamp_micros(text), std::nullopt);
  }
}

TEST(ParseTimestamp, NegativeEpoch) {
  EXPECT_EQ(parse_timestamp_micros("1969-12-31T23:59:59Z"), -kSec);
  EXPECT_EQ(parse_timestamp_micros("1969-12-31T23:59:59.5Z"), -kSec / 2);
  EXPECT_EQ(parse_timestamp_micros("1969-12-31T23:59:59.999999Z"), -1);
  EXPECT_EQ(parse_timestamp_micros("1969-07-20T20:17:40Z"), -14182940LL * kSec);
  // Midnight UTC on 1 Jan 1970 written from a timezone east of Greenwich.
  EXPECT_EQ(parse_timestamp_micros("1970-01-01T05:30:00+05:30"), 0);
  EXPECT_EQ(parse_timestamp_micros("1970-01-01T00:00:00+01:00"), -3600 * kSec);
}

TEST(FormatTimestamp, RendersUtcWithSixDigits) {
  EXPECT_EQ(format_timestamp_utc(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_timestamp_utc(kBase + 123456), "2026-03-01T11:35:09.123456Z");
  EXPECT_EQ(format_timestamp_utc(kBase + 1), "2026-03-01T11:35:09.000001Z");
  EXPECT_EQ(format_timestamp_utc(1709164800LL * kSec), "2024-02-29T00:00:00.000000Z");
}

TEST(FormatTimestamp, NegativeEpochBorrowsFromSeconds) {
  EXPECT_EQ(format_timestamp_utc(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_timestamp_utc(-kSec / 2), "1969-12-31T23:59:59.500000Z");
  EXPECT_EQ(format_timestamp_utc(-kSec), "1969-12-31T23:59:59.000000Z");
  EXPECT_EQ(format_timestamp_utc(-14182940LL * kSec), "1969-07-20T20:17:40.000000Z");
}

TEST(FormatTimestamp, RoundTripsThroughParse) {
  const char* inputs[] = {
      "2026-03-01T17:05:09.123456+05:30", "2026-03-01T03:35:09-08:00",
      "2024-02-29T23:59:59.999999Z",      "1969-12-31T23:59:59.000001Z",
      "1900-03-01T00:00:00Z",             "2099-12-31T23:59:59.5-00:30",
  };
  for (const char* text : inputs) {
    SCOPED_TRACE(text);
    const auto micros = parse_timestamp_micros(text);
    ASSERT_TRUE(micros.has_value());
    const std::string utc = format_timestamp_utc(*micros);
    ASSERT_EQ(utc.size(), 27u);
    EXPECT_EQ(utc.back(), 'Z');
    EXPECT_EQ(parse_timestamp_micros(utc), micros);
    EXPECT_EQ(format_timestamp_utc(*parse_timestamp_micros(utc)), utc);
  }
  EXPECT_EQ(format_timestamp_utc(*parse_timestamp_micros("2026-03-01T17:05:09.123456+05:30")),
            "2026-03-01T11:35:09.123456Z");
  EXPECT_EQ(format_timestamp_utc(*parse_timestamp_micros("2025-12-31T23:30:00-08:00")),
            "2026-01-01T07:30:00.000000Z");
}

TEST(IsValidDate, AcceptsRealCalendarDates) {
  EXPECT_TRUE(is_valid_date("2026-03-01"));
  EXPECT_TRUE(is_valid_date("2024-02-29"));
  EXPECT_TRUE(is_valid_date("2000-02-29"));
  EXPECT_TRUE(is_valid_date("2026-12-31"));
  EXPECT_TRUE(is_valid_date("0001-01-01"));
  EXPECT_TRUE(is_valid_date("2026-04-30"));
}

TEST(IsValidDate, RejectsImpossibleOrMalformedDates) {
  const char* bad[] = {
      "2025-02-29", "1900-02-29", "2026-02-30", "2026-04-31", "2026-13-01", "2026-00-10",
      "2026-01-00", "2026-01-32", "0000-01-01", "2026-3-01",  "2026/03/01", "26-03-01",
      "2026-03-1",  "2026-03-01T00:00:00Z",     "",           "None",       "2026-03-0a",
      " 2026-03-01", "2026-03-01 ",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(is_valid_date(text));
  }
}

// The calendar arithmetic against the C library's (timegm, gmtime_r + printf), which it replaced:
// every day boundary from year 1 to 9999 that a sample hits, leap days, and before the epoch.
TEST(TimestampCalendar, AgreesWithTheCLibrary) {
  std::mt19937_64 rng(7);
  // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds.
  const std::int64_t lo = -62135596800LL, hi = 253402300799LL;
  std::uniform_int_distribution<std::int64_t> secs(lo, hi);
  std::vector<std::int64_t> samples = {0, -1, 1, 951782400 /* 2000-02-29 */, 951868799, -2203891200 /* 1900-03-01 */,
                                       lo, hi, 4107542400 /* 2100-03-01 */, 1772364909};
  for (int i = 0; i < 20000; ++i) samples.push_back(secs(rng));
  for (const std::int64_t t : samples) {
    const std::int64_t micros = t * kSec + (t & 0xFFFFF) % kSec;
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&tt, &tm), nullptr);
    char want[64];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros - t * kSec));
    const std::string got = format_timestamp_utc(micros);
    ASSERT_EQ(got, want) << t;
    ASSERT_EQ(parse_timestamp_micros(got), micros) << got;
    ASSERT_EQ(static_cast<std::int64_t>(timegm(&tm)), t);
  }
  // A leap second reads as the next minute's first, as timegm has it.
  EXPECT_EQ(parse_timestamp_micros("2016-12-31T23:59:60Z"), parse_timestamp_micros("2017-01-01T00:00:00Z"));
  // Outside four-digit years the text is printf's.
  EXPECT_EQ(format_timestamp_utc(253402300800LL * kSec), "10000-01-01T00:00:00.000000Z");
}

}  // namespace
