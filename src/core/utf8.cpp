#include "core/cpp_only.hpp"

#include "core/utf8.hpp"

namespace plane {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

}  // namespace

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (unsigned char c : s) n += utf8_continuation(c) ? 0 : 1;
  return n;
}

char32_t utf8_next(std::string_view s, std::size_t& pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  std::size_t len;
  char32_t cp;
  char32_t min;
  if ((lead & 0xE0) == 0xC0) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    ++pos;
    return kReplacement;
  }
  if (pos + len > s.size()) {
    ++pos;
    return kReplacement;
  }
  for (std::size_t i = 1; i < len; ++i) {
    if (!utf8_continuation(byte(pos + i))) {
      ++pos;
      return kReplacement;
    }
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return kReplacement;
  }
  pos += len;
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool utf8_valid(std::string_view s) noexcept {
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t start = pos;
    if (utf8_next(s, pos) == kReplacement) {
      // U+FFFD itself is well-formed (EF BF BD): only a one-byte step means malformed input.
      if (pos - start == 1) return false;
    }
  }
  return true;
}

std::string utf8_sanitize(std::string_view s) {
  if (utf8_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t start = pos;
    const char32_t cp = utf8_next(s, pos);
    if (cp == kReplacement && pos - start == 1) {
      utf8_append(out, kReplacement);
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  return out;
}

std::size_t utf8_floor(std::string_view s, std::size_t pos) noexcept {
  if (pos >= s.size()) return s.size();
  while (pos > 0 && utf8_continuation(static_cast<unsigned char>(s[pos]))) --pos;
  return pos;
}

std::size_t utf8_advance(std::string_view s, std::size_t n) noexcept {
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (!utf8_continuation(static_cast<unsigned char>(s[pos]))) {
      if (n == 0) return pos;
      --n;
    }
    ++pos;
  }
  return s.size();
}

}  // namespace plane
