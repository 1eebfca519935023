#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plane {

// Plane renders datetimes in the API key owner's timezone (Django activates the user's zone for every response):
// "2026-03-01T17:05:09.123456+05:30", "...Z", sometimes without fraction. Parses to microseconds
// since the Unix epoch (UTC). Returns nullopt for anything that is not a full ISO-8601 datetime.
std::optional<std::int64_t> parse_timestamp_micros(std::string_view text);

// Renders microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.ffffffZ".
std::string format_timestamp_utc(std::int64_t micros);

// "YYYY-MM-DD" with a real calendar date (Plane's dates: start_date, target_date, Issue.archived_at).
bool is_valid_date(std::string_view text);

}  // namespace plane
