#include "pg/calendar_zones.hpp"

#include <cstdio>

#include "pg/boundary.hpp"

extern "C" {
#include "pgtime.h"
}

namespace plane::pg {

std::optional<std::string> PgCalendarZones::local_date(std::int64_t utc_us, const std::string& zone) {
  if (zone.empty() || zone.size() > 64) return std::nullopt;
  char day[16];
  day[0] = '\0';
  pg_call([&]() noexcept {
    const pg_tz* tz = pg_tzset(zone.c_str());  // NULL for a zone Postgres does not know
    if (tz == nullptr) return;
    // Floor division: an instant before 1970 still falls on the right day.
    const pg_time_t seconds = static_cast<pg_time_t>(utc_us >= 0 ? utc_us / 1000000 : -((-utc_us + 999999) / 1000000));
    const struct pg_tm* tm = pg_localtime(&seconds, tz);
    if (tm == nullptr) return;
    std::snprintf(day, sizeof day, "%04d-%02d-%02d", tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday);
  });
  if (day[0] == '\0') return std::nullopt;
  return std::string(day);
}

}  // namespace plane::pg
