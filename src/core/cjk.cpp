#include "core/cpp_only.hpp"

#include "core/cjk.hpp"

#include "core/utf8.hpp"

namespace plane {

bool is_cjk(char32_t cp) {
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

std::vector<std::string_view> split_cjk(std::string_view token) {
  std::vector<std::string_view> pieces;
  std::size_t run_start = 0;  // start of the current run of non-CJK characters
  std::size_t pos = 0;
  while (pos < token.size()) {
    const std::size_t start = pos;
    if (!is_cjk(utf8_next(token, pos))) continue;
    if (start > run_start) pieces.push_back(token.substr(run_start, start - run_start));
    pieces.push_back(token.substr(start, pos - start));
    run_start = pos;
  }
  if (run_start < token.size()) pieces.push_back(token.substr(run_start));
  return pieces;
}

}  // namespace plane
