#include "core/cpp_only.hpp"

#include "core/html_text.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>

#include "core/text_chunker.hpp"
#include "core/utf8.hpp"

namespace plane {

namespace {

// What an element does to the text layout.
enum class Tag {
  Other,    // inline or unknown: its text flows into the current line
  Block,    // starts and ends a line
  Skip,     // dropped with everything inside it
  Break,    // <br>: ends the line
  List,     // ul, ol: a block that nests list items
  Item,     // li
  Heading,  // h1-h6
  Pre,      // white space kept, each line a line
  Row,      // tr: a block whose cells are joined with " | "
  Cell,     // td, th
  Image,    // img, Plane's image-component: alt text
  Mention,  // Plane's mention-component: "@" + label
};

struct TagName {
  std::string_view name;
  Tag tag;
};

// Sorted by name for binary search. libxml2's HTML parser lower-cases element names.
constexpr std::array<TagName, 57> kTags{{
    {"address", Tag::Block},     {"article", Tag::Block},       {"aside", Tag::Block},
    {"blockquote", Tag::Block},  {"body", Tag::Block},          {"br", Tag::Break},
    {"caption", Tag::Block},     {"center", Tag::Block},        {"dd", Tag::Block},
    {"details", Tag::Block},     {"dialog", Tag::Block},        {"div", Tag::Block},
    {"dl", Tag::Block},          {"dt", Tag::Block},            {"fieldset", Tag::Block},
    {"figcaption", Tag::Block},  {"figure", Tag::Block},        {"footer", Tag::Block},
    {"form", Tag::Block},        {"h1", Tag::Heading},          {"h2", Tag::Heading},
    {"h3", Tag::Heading},        {"h4", Tag::Heading},          {"h5", Tag::Heading},
    {"h6", Tag::Heading},        {"head", Tag::Skip},           {"header", Tag::Block},
    {"hgroup", Tag::Block},      {"hr", Tag::Block},            {"html", Tag::Block},
    {"iframe", Tag::Skip},       {"image-component", Tag::Image}, {"img", Tag::Image},
    {"legend", Tag::Block},      {"li", Tag::Item},             {"main", Tag::Block},
    {"mention-component", Tag::Mention}, {"menu", Tag::List},   {"nav", Tag::Block},
    {"noscript", Tag::Skip},     {"object", Tag::Skip},         {"ol", Tag::List},
    {"p", Tag::Block},           {"pre", Tag::Pre},             {"script", Tag::Skip},
    {"section", Tag::Block},     {"select", Tag::Skip},         {"style", Tag::Skip},
    {"summary", Tag::Block},     {"svg", Tag::Skip},            {"table", Tag::Block},
    {"td", Tag::Cell},           {"template", Tag::Skip},       {"th", Tag::Cell},
    {"title", Tag::Skip},        {"tr", Tag::Row},              {"ul", Tag::List},
}};

constexpr bool sorted_and_named() {
  for (std::size_t i = 0; i < kTags.size(); ++i) {
    if (kTags[i].name.empty() || (i > 0 && !(kTags[i - 1].name < kTags[i].name))) return false;
  }
  return true;
}
static_assert(sorted_and_named(), "kTags must be sorted by name, without gaps");

Tag tag_of(const xmlChar* name) {
  if (name == nullptr) return Tag::Other;
  const std::string_view n(reinterpret_cast<const char*>(name));
  auto it = std::lower_bound(kTags.begin(), kTags.end(), n,
                             [](const TagName& t, std::string_view v) { return t.name < v; });
  return it != kTags.end() && it->name == n ? it->tag : Tag::Other;
}

// The value of attribute `name` in libxml2's SAX1 attribute list (name, value, ..., NULL).
std::string_view attribute(const xmlChar** atts, std::string_view name) {
  if (atts == nullptr) return {};
  for (int i = 0; atts[i] != nullptr; i += 2) {
    if (name == reinterpret_cast<const char*>(atts[i])) {
      return atts[i + 1] != nullptr ? std::string_view(reinterpret_cast<const char*>(atts[i + 1]))
                                    : std::string_view();
    }
  }
  return {};
}

// Lays out the parser's events as lines (see html_text.hpp). SAX rather than a tree: no document
// is built, and no tree depth limit applies (libxml2 caps tree depth at 256 without
// XML_PARSE_HUGE, and truncates the document there); libxml2 reports every element's end, also
// for implied and void elements, so the counters below stay balanced.
class Layout {
 public:
  std::vector<TextBlock> blocks;

  void start(const xmlChar* name, const xmlChar** atts) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return;
    }
    const Tag tag = tag_of(name);
    switch (tag) {
      case Tag::Skip: skip_depth_ = 1; break;
      case Tag::Block: end_line(); break;
      case Tag::Break: end_line(); break;
      case Tag::List:
        end_line();
        ++list_depth_;
        break;
      case Tag::Item: {
        end_line();
        prefix_.assign(2 * static_cast<std::size_t>(std::max(list_depth_ - 1, 0)), ' ');
        prefix_ += "- ";
        const std::string_view checked = attribute(atts, "data-checked");
        if (checked == "true") prefix_ += "[x] ";
        if (checked == "false") prefix_ += "[ ] ";
        break;
      }
      case Tag::Heading:
        end_line();
        heading_level_ = name[1] - '0';
        break;
      case Tag::Pre:
        end_line();
        ++pre_depth_;
        break;
      case Tag::Row:
        end_line();
        cells_in_row_ = 0;
        break;
      case Tag::Cell:
        if (cells_in_row_++ > 0 && !line_.empty()) {
          line_ += " | ";
          pending_space_ = false;
        }
        break;
      case Tag::Image: {
        // Set apart from the words around it: <img> has no white space of its own.
        const std::string_view alt = attribute(atts, "alt");
        if (!alt.empty()) {
          pending_space_ = true;
          inline_text(alt);
          pending_space_ = true;
        }
        break;
      }
      case Tag::Mention: {
        const std::string_view label = attribute(atts, "label");
        if (!label.empty()) inline_text("@" + std::string(label));
        break;
      }
      case Tag::Other: break;
    }
  }

  void end(const xmlChar* name) {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return;
    }
    switch (tag_of(name)) {
      case Tag::Block:
      case Tag::Row: end_line(); break;
      case Tag::List:
        end_line();
        list_depth_ = std::max(list_depth_ - 1, 0);
        break;
      case Tag::Item:
        end_line();
        prefix_.clear();
        break;
      case Tag::Heading:
        end_line();
        heading_level_ = 0;
        break;
      case Tag::Pre:
        end_line();
        pre_depth_ = std::max(pre_depth_ - 1, 0);
        break;
      default: break;
    }
  }

  void characters(std::string_view text) {
    if (skip_depth_ > 0) return;
    if (pre_depth_ > 0) {
      preformatted_text(text);
    } else {
      inline_text(text);
    }
  }

  void finish() { end_line(); }

 private:
  // Flowing text: white space (and U+00A0) collapses to one space, none at a line's start.
  void inline_text(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        pending_space_ = true;
      } else if (c == '\xC2' && i + 1 < text.size() && text[i + 1] == '\xA0') {
        pending_space_ = true;
        ++i;
      } else {
        put(c);
      }
    }
  }

  // Inside <pre>: every character kept (indentation too) except that a line feed ends the line
  // and CR is dropped.
  void preformatted_text(std::string_view text) {
    for (const char c : text) {
      if (c == '\n') {
        end_line();
      } else if (c != '\r') {
        put(c);
      }
    }
  }

  void put(char c) {
    if (!started_) {
      line_ += prefix_;
      prefix_.clear();
      started_ = true;
    } else if (pending_space_) {
      line_ += ' ';
    }
    pending_space_ = false;
    line_ += c;
  }

  void end_line() {
    while (!line_.empty() && (line_.back() == ' ' || line_.back() == '\t')) line_.pop_back();
    if (started_ && !line_.empty()) blocks.push_back(TextBlock{heading_level_, std::move(line_)});
    line_.clear();
    pending_space_ = false;
    started_ = false;
  }

  std::string line_;
  std::string prefix_;   // "- " of a list item, written before its first character
  bool pending_space_ = false;
  bool started_ = false;  // line_ has received text (prefix written)
  int skip_depth_ = 0;
  int list_depth_ = 0;
  int pre_depth_ = 0;
  int heading_level_ = 0;
  int cells_in_row_ = 0;
};

// The parse in progress: the layout, and the first C++ exception thrown in a callback (it must
// not unwind through libxml2's C frames: the callback stops the parser instead, and the exception
// is rethrown once htmlParseDocument has returned).
struct ParseState {
  Layout layout;
  std::exception_ptr error;
  xmlParserCtxtPtr ctxt = nullptr;
};

template <typename F>
void guarded(void* user_data, F&& f) noexcept {
  auto* state = static_cast<ParseState*>(user_data);
  if (state->error) return;
  try {
    f(state->layout);
  } catch (...) {
    state->error = std::current_exception();
    xmlStopParser(state->ctxt);
  }
}

void on_start(void* ud, const xmlChar* name, const xmlChar** atts) {
  guarded(ud, [&](Layout& l) { l.start(name, atts); });
}
void on_end(void* ud, const xmlChar* name) {
  guarded(ud, [&](Layout& l) { l.end(name); });
}
void on_characters(void* ud, const xmlChar* text, int len) {
  guarded(ud, [&](Layout& l) {
    l.characters(std::string_view(reinterpret_cast<const char*>(text), static_cast<std::size_t>(len)));
  });
}
// Errors are not reported anywhere: a per-parse structured handler also keeps libxml2 from using
// a process-wide one (Postgres installs its own while its xml functions run).
void on_error(void*, xmlErrorPtr) {}

struct CtxtFree {
  void operator()(htmlParserCtxtPtr ctxt) const { htmlFreeParserCtxt(ctxt); }
};

void init_libxml2_once() {
  static std::once_flag once;
  // Idempotent and process-wide; never paired with xmlCleanupParser, which would pull libxml2's
  // globals from under any other user in the process (Postgres's xml type).
  std::call_once(once, [] { xmlInitParser(); });
}

}  // namespace

std::vector<TextBlock> html_blocks(std::string_view html) {
  if (html.size() > static_cast<std::size_t>(INT_MAX)) {
    throw std::length_error("html_to_text: input over 2 GiB");
  }
  // libxml2 stops at the first malformed sequence when it converts UTF-8, losing the rest:
  // replace such bytes first, so garbage in one place costs only that place.
  const std::string sanitized = utf8_valid(html) ? std::string() : utf8_sanitize(html);
  const std::string_view input = sanitized.empty() ? html : std::string_view(sanitized);
  if (input.empty()) return {};
  init_libxml2_once();

  std::unique_ptr<htmlParserCtxt, CtxtFree> ctxt(
      htmlCreateMemoryParserCtxt(input.data(), static_cast<int>(input.size())));
  if (!ctxt) throw std::bad_alloc();
  ParseState state;
  state.ctxt = ctxt.get();
  xmlSAXHandler handler;
  std::memset(&handler, 0, sizeof handler);
  handler.initialized = XML_SAX2_MAGIC;  // makes libxml2 use serror below
  handler.startElement = on_start;
  handler.endElement = on_end;
  handler.characters = on_characters;
  handler.cdataBlock = on_characters;
  handler.ignorableWhitespace = on_characters;
  handler.serror = on_error;
  std::memcpy(ctxt->sax, &handler, sizeof handler);  // ctxt owns a handler of exactly this size
  ctxt->userData = &state;
  htmlCtxtUseOptions(ctxt.get(), HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                     HTML_PARSE_NONET | HTML_PARSE_NODEFDTD | HTML_PARSE_IGNORE_ENC);
  // The input is UTF-8 (sanitized above); without a declared encoding libxml2 would guess, and
  // guess ISO-8859-1 at the first non-ASCII byte. HTML_PARSE_IGNORE_ENC ignores <meta charset>.
  xmlCharEncodingHandlerPtr utf8 = xmlFindCharEncodingHandler("UTF-8");
  if (utf8 == nullptr || xmlSwitchToEncoding(ctxt.get(), utf8) != 0) throw std::bad_alloc();
  htmlParseDocument(ctxt.get());  // its status only says whether the markup was well-formed
  if (state.error) std::rethrow_exception(state.error);
  if (ctxt->errNo == XML_ERR_NO_MEMORY) throw std::bad_alloc();
  state.layout.finish();
  return std::move(state.layout.blocks);
}

std::string html_to_text(std::string_view html) { return blocks_to_text(html_blocks(html)); }

std::string blocks_to_text(const std::vector<TextBlock>& blocks) {
  std::size_t size = 0;
  for (const TextBlock& b : blocks) size += b.text.size() + 1;
  std::string text;
  text.reserve(size);
  for (const TextBlock& b : blocks) {
    if (!text.empty()) text += '\n';
    text += b.text;
  }
  return text;
}

std::vector<TextChunk> html_chunks(std::string_view html, std::size_t target_chars,
                                   std::size_t overlap_chars) {
  return chunk_blocks(html_blocks(html), target_chars, overlap_chars);
}

}  // namespace plane
