// libFuzzer target for src/core/html_text and text_chunker: whatever bytes a description_html or
// page holds (they come from Plane's editor, API clients and webhooks), html_to_text and
// html_chunks return well-formed UTF-8 without throwing, lines are never empty, and every chunk is
// non-empty and within its size. Build and run: see test/fuzz/README.md.
//
// Input layout: byte 0 picks target_chars (1 + byte0 * 4), byte 1 the overlap as a fraction of
// half the target (byte1 / 255); the rest is the HTML.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/html_text.hpp"
#include "core/text_chunker.hpp"
#include "core/utf8.hpp"

namespace {

void check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t target = 1 + static_cast<std::size_t>(data[0]) * 4;
  const std::size_t overlap = target / 2 * data[1] / 255;
  const std::string_view html(reinterpret_cast<const char*>(data + 2), size - 2);

  const std::string text = plane::html_to_text(html);
  check(plane::utf8_valid(text));
  check(text.find("\n\n") == std::string::npos);
  check(text.empty() || (text.front() != '\n' && text.back() != '\n'));

  for (const plane::TextBlock& b : plane::html_blocks(html)) {
    check(!b.text.empty() && b.text.find('\n') == std::string::npos);
    check(b.heading_level >= 0 && b.heading_level <= 6);
  }

  for (const plane::TextChunk& c : plane::html_chunks(html, target, overlap)) {
    check(!c.content.empty());
    check(plane::utf8_valid(c.content));
    check(plane::utf8_length(c.content) <= target);
    for (const std::string& h : c.heading_path) check(plane::utf8_valid(h) && !h.empty());
  }
  return 0;
}
