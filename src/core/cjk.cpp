#include "core/cpp_only.hpp"

#include "core/cjk.hpp"

#include "core/utf8.hpp"

namespace plane {

bool is_cjk(char32_t cp) noexcept {
  return (cp >= 0x1100 && cp <= 0x11FF)      // Hangul Jamo
         || (cp >= 0x2E80 && cp <= 0x2FDF)   // CJK radicals, Kangxi radicals
         || (cp >= 0x3040 && cp <= 0x30FF)   // Hiragana, Katakana
         || (cp >= 0x3100 && cp <= 0x31BF)   // Bopomofo, Hangul compatibility Jamo, Kanbun
         || (cp >= 0x31F0 && cp <= 0x31FF)   // Katakana phonetic extensions
         || (cp >= 0x3400 && cp <= 0x4DBF)   // CJK extension A
         || (cp >= 0x4E00 && cp <= 0x9FFF)   // CJK unified ideographs
         || (cp >= 0xA960 && cp <= 0xA97F)   // Hangul Jamo extended A
         || (cp >= 0xAC00 && cp <= 0xD7FF)   // Hangul syllables, Jamo extended B
         || (cp >= 0xF900 && cp <= 0xFAFF)   // CJK compatibility ideographs
         || (cp >= 0xFF66 && cp <= 0xFFDC)   // half-width Katakana and Hangul
         || (cp >= 0x20000 && cp <= 0x3134F);  // CJK extensions B-G, compatibility supplement
}

bool contains_cjk(std::string_view token) noexcept {
  std::size_t pos = 0;
  while (pos < token.size()) {
    // ASCII is never CJK: skip it without decoding.
    if (static_cast<unsigned char>(token[pos]) < 0x80) {
      ++pos;
      continue;
    }
    if (is_cjk(utf8_next(token, pos))) return true;
  }
  return false;
}

std::size_t cjk_piece_end(std::string_view token, std::size_t start) noexcept {
  std::size_t pos = start;
  if (pos >= token.size()) return token.size();
  if (is_cjk(utf8_next(token, pos))) return pos;
  while (pos < token.size()) {
    std::size_t next = pos;
    if (is_cjk(utf8_next(token, next))) return pos;
    pos = next;
  }
  return pos;
}

std::vector<std::string_view> split_cjk(std::string_view token) {
  std::vector<std::string_view> pieces;
  for (std::size_t start = 0; start < token.size();) {
    const std::size_t end = cjk_piece_end(token, start);
    pieces.push_back(token.substr(start, end - start));
    start = end;
  }
  return pieces;
}

}  // namespace plane
