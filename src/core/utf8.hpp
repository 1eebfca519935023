// UTF-8 helpers for text the core cuts or classifies (HTML → text, chunks, CJK tokens): every
// position they return is the start of a code point, so no cut ever lands inside a sequence.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plane {

// A continuation byte (10xxxxxx): never the start of a code point.
inline bool utf8_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Number of code points in well-formed UTF-8 (continuation bytes are not counted).
std::size_t utf8_length(std::string_view s) noexcept;

// Decodes the code point at s[pos] and advances pos past it. Malformed input (a stray
// continuation byte, a truncated or overlong sequence, a surrogate, > U+10FFFF) yields U+FFFD and
// advances one byte.
char32_t utf8_next(std::string_view s, std::size_t& pos) noexcept;

// Appends the UTF-8 encoding of cp (U+FFFD for a surrogate or a value above U+10FFFF).
void utf8_append(std::string& out, char32_t cp);

// Whether s is well-formed UTF-8.
bool utf8_valid(std::string_view s) noexcept;

// s with every malformed byte replaced by U+FFFD (s itself when it is well-formed).
std::string utf8_sanitize(std::string_view s);

// The byte offset of the code-point boundary at or before pos (pos clamped to s.size()).
std::size_t utf8_floor(std::string_view s, std::size_t pos) noexcept;

// The byte offset just past the first n code points of s (s.size() when it has fewer).
std::size_t utf8_advance(std::string_view s, std::size_t n) noexcept;

}  // namespace plane
