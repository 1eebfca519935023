// Scripts written without spaces between words (Chinese, Japanese, Korean): Postgres's default
// text-search parser returns a whole run of them as one "word", so a search for 検索 would not find
// 検索機能. Splitting such runs into one token per character lets to_tsvector index every character
// and makes a query's run a phrase of consecutive characters (to_tsquery joins the tokens of one
// query word with <->): substring search for these scripts, with no dictionary.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace plane {

// Han ideographs, kana, Hangul and their compatibility, half/full-width and radical blocks.
bool is_cjk(char32_t cp) noexcept;

// Whether the token holds a CJK character.
bool contains_cjk(std::string_view token) noexcept;

// The end of the piece of `token` that starts at byte `start` (a code-point boundary): one CJK
// character, or the run of other characters up to the next CJK one. token.size() at the end.
// What the text-search parser calls per token, without allocating.
std::size_t cjk_piece_end(std::string_view token, std::size_t start) noexcept;

// The pieces of one parser token: each CJK character alone, every other run as one piece, in
// order, covering the token exactly (their concatenation is the token). A token without CJK
// characters is returned whole.
std::vector<std::string_view> split_cjk(std::string_view token);

}  // namespace plane
