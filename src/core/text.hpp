// Small text helpers shared by the core: ASCII case folding for protocol tokens (header names,
// event names) and cutting text to a byte budget without splitting a UTF-8 sequence (a message cut
// mid-character is invalid UTF-8, which Postgres refuses to store or log).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plane {

char ascii_lower(char c);
std::string ascii_lower(std::string_view s);
bool ascii_iequals(std::string_view a, std::string_view b);
// Spaces and tabs at both ends removed (HTTP header values).
std::string_view trim_blanks(std::string_view s);

// The longest prefix of `text` of at most `max_bytes` bytes that ends on a UTF-8 character
// boundary; when it is shorter than `text`, `ellipsis` is appended (and counted in the budget).
std::string truncate_utf8(std::string_view text, std::size_t max_bytes,
                          std::string_view ellipsis = "...");

}  // namespace plane
