#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/timestamp.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace plane {

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && leap(y)) ? 29 : days[m - 1];
}

bool valid_ymd(int y, int m, int d) {
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's days_from_civil /
// civil_from_days; C++20's <chrono> has them, C++17 does not). timegm and gmtime_r + snprintf cost
// more than the rest of reading a webhook's envelope; these are a few integer operations.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

void put_digits(char* out, std::int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

bool is_valid_date(std::string_view s) {
  int y = 0, m = 0, d = 0;
  return s.size() == 10 && digits(s, 0, 4, y) && s[4] == '-' && digits(s, 5, 2, m) &&
         s[7] == '-' && digits(s, 8, 2, d) && valid_ymd(y, m, d);
}

std::optional<std::int64_t> parse_timestamp_micros(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() < 19 || !is_valid_date(s.substr(0, 10))) return std::nullopt;
  digits(s, 0, 4, y);
  digits(s, 5, 2, mo);
  digits(s, 8, 2, d);
  if ((s[10] != 'T' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  std::int64_t frac_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t ndigits = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (ndigits < 6) frac_us = frac_us * 10 + (s[pos] - '0');
      ++ndigits;
      ++pos;
    }
    if (ndigits == 0) return std::nullopt;
    for (size_t i = ndigits; i < 6; ++i) frac_us *= 10;  // ".5" is 500000 us
  }
  // Offset: Z, +HH:MM, +HHMM or +HH. A datetime without an offset is ambiguous: refuse it.
  std::int64_t offset_s = 0;
  if (pos >= s.size()) return std::nullopt;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int sign = s[pos] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh)) return std::nullopt;
    pos += 3;
    const bool colon = pos < s.size() && s[pos] == ':';
    if (colon) ++pos;
    if (colon || pos < s.size()) {  // "+05:" must be followed by minutes
      if (!digits(s, pos, 2, om)) return std::nullopt;
      pos += 2;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    offset_s = sign * (static_cast<std::int64_t>(oh) * 3600 + static_cast<std::int64_t>(om) * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  // As timegm would: a leap second (60) is the next minute's first.
  const std::int64_t local_s = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                               static_cast<std::int64_t>(h) * 3600 + mi * 60 + sec;
  return (local_s - offset_s) * 1000000 + frac_us;
}

std::string format_timestamp_utc(std::int64_t micros) {
  std::int64_t secs = micros / 1000000;
  std::int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::int64_t days = secs / 86400;
  std::int64_t day_s = secs % 86400;
  if (day_s < 0) {
    day_s += 86400;
    days -= 1;
  }
  std::int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  if (year >= 0 && year <= 9999) {
    char buf[] = "YYYY-MM-DDTHH:MM:SS.ffffffZ";
    put_digits(buf, year, 4);
    put_digits(buf + 5, month, 2);
    put_digits(buf + 8, day, 2);
    put_digits(buf + 11, day_s / 3600, 2);
    put_digits(buf + 14, day_s / 60 % 60, 2);
    put_digits(buf + 17, day_s % 60, 2);
    put_digits(buf + 20, frac, 6);
    return std::string(buf, sizeof buf - 1);
  }
  // Years outside four digits: as printf writes them.
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

}  // namespace plane
