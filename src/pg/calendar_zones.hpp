// The core's CalendarZones with Postgres's own time zone data (the same zones AT TIME ZONE knows).
#pragma once

#include "core/mapping.hpp"

namespace plane::pg {

class PgCalendarZones final : public plane::CalendarZones {
 public:
  std::optional<std::string> local_date(std::int64_t utc_us, const std::string& zone) override;
};

}  // namespace plane::pg
