// Parsing JSON text into nlohmann::json quickly. nlohmann's own parser reads a byte at a time (in
// a backfill it was most of the time spent on a page); simdjson lexes with SIMD instructions and
// builds a DOM that is then converted. The result is always what
// nlohmann::json::parse(text, nullptr, false) returns: the same document, and the discarded value
// for text that is not JSON. Whatever simdjson refuses (not JSON, a number beyond 64 bits, a string
// it would not decode, a deeper nesting than it allows) is handed to nlohmann's parser, which then
// decides (test/fuzz/list_page_fuzz.cpp checks the two agree on arbitrary input).
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace plane {

// Callers bound the nesting first (json_nesting_depth): the conversion recurses once per level.
nlohmann::json parse_json(std::string_view text);

}  // namespace plane
