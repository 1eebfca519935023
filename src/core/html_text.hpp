// Plain text out of Plane's HTML (work item description_html, page content), for full-text
// search and for chunks an external embedder turns into vectors. The HTML is parsed by libxml2's
// HTML parser (the error-recovering parser browsers' rules are modelled on), never by pattern
// matching: entities, implied end tags, comments, CDATA and broken markup are its business.
//
// Text layout: every block element (p, div, li, h1-h6, tr, pre lines, blockquote, ...) and <br>
// ends a line; list items start with "- " (task items "- [x] " / "- [ ] "), indented two spaces per
// nesting level; table cells are joined with " | "; script, style, template, noscript and the
// document head are dropped; runs of white space (and no-break spaces) collapse to one space
// except inside <pre>; an <img>'s alt text and a Plane mention's label ("@Ann") are kept.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace plane {

// One line of text in document order.
struct TextBlock {
  int heading_level = 0;  // 1-6 for h1-h6, 0 for everything else
  std::string text;       // never empty; no line breaks
};

// The document's lines. Any input is accepted (malformed UTF-8 is replaced by U+FFFD first, so
// every string returned is well-formed UTF-8); nesting depth is not limited. Throws
// std::bad_alloc when memory runs out and std::length_error for input over 2 GiB (libxml2 takes
// an int length).
std::vector<TextBlock> html_blocks(std::string_view html);

// The lines joined with "\n" ("" for an empty document).
std::string html_to_text(std::string_view html);
std::string blocks_to_text(const std::vector<TextBlock>& blocks);

// A piece of a document for retrieval: about target_chars code points, with the headings (h1 >
// h2 > ...) in force where it starts.
struct TextChunk {
  std::vector<std::string> heading_path;
  std::string content;
};

// The document cut into chunks (see text_chunker.hpp for where cuts fall).
std::vector<TextChunk> html_chunks(std::string_view html, std::size_t target_chars = 1000,
                                   std::size_t overlap_chars = 150);

}  // namespace plane
