// Cuts a document's lines (html_text.hpp) into chunks for retrieval-augmented generation.
//
//  * A chunk holds at most target_chars code points (lines joined with "\n"), overlap included.
//  * A heading starts a new chunk (unless the chunk so far holds only headings), so a chunk never
//    spans two sections, and its heading_path is the stack of headings in force at its start
//    (a heading of level n replaces those of level >= n).
//  * A chunk that fills up is cut after the last whole line that fits; a line too long for one
//    chunk is cut at the last sentence end in the second half of the space left, else at the
//    last space in its second half, else at a code-point boundary (text without spaces, e.g.
//    CJK): never inside a UTF-8 sequence.
//  * The next chunk of the same section starts with about overlap_chars code points from the end
//    of the previous one, beginning at a sentence or word start where the window has one.
#pragma once

#include <cstddef>
#include <vector>

#include "core/html_text.hpp"

namespace plane {

// Throws std::invalid_argument unless 1 <= target_chars and 2 * overlap_chars <= target_chars
// (a larger overlap would make progress per chunk too small to bound the number of chunks).
std::vector<TextChunk> chunk_blocks(const std::vector<TextBlock>& blocks, std::size_t target_chars,
                                    std::size_t overlap_chars);

}  // namespace plane
