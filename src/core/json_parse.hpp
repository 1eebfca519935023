// Parsing JSON text into nlohmann::json quickly. nlohmann's own parser reads a byte at a time (in
// a backfill it was most of the time spent on a page); simdjson lexes with SIMD instructions and
// builds a DOM that is then converted. The result is always what
// nlohmann::json::parse(text, nullptr, false) returns: the same document, and the discarded value
// for text that is not JSON. Whatever simdjson refuses (not JSON, a number beyond 64 bits, a string
// it would not decode, a deeper nesting than it allows) is handed to nlohmann's parser, which then
// decides (test/fuzz/list_page_fuzz.cpp checks the two agree on arbitrary input).
//
// Every JSON text from outside (Plane's answers, webhook bodies, OAuth and MCP replies) goes through
// this module: its nesting is bounded first by a linear scan, because building, copying, dumping and
// destroying a document recurse once per level, and a few hundred kilobytes of '[' would overflow a
// backend's stack.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace plane {

// Deepest array/object nesting accepted from outside. Rich-text descriptions nest, but not this deep.
inline constexpr int kMaxJsonDepth = 256;

// Deepest array/object nesting in a JSON text, counting only brackets outside strings; stops early
// and returns limit + 1 once the depth exceeds limit. Linear, no recursion.
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);

// Callers bound the nesting first (json_nesting_depth): the conversion recurses once per level.
nlohmann::json parse_json(std::string_view text);

// The document of a text from outside: its nesting checked, then parsed. Throws PlaneError(Parse)
// naming `what` ("list response", "webhook body") when it nests deeper than kMaxJsonDepth or is not
// JSON; the message never quotes the text.
nlohmann::json parse_json_checked(std::string_view text, const char* what);

}  // namespace plane
