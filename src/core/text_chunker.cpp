#include "core/cpp_only.hpp"

#include "core/text_chunker.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "core/utf8.hpp"

namespace plane {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

// A sentence ends after ".", "!", "?" (or ";" / ":" before a line's end) followed by white space,
// or right after a full-width 。！？ which need none.
bool sentence_end_before(std::string_view t, std::size_t pos) {
  if (pos == 0 || pos >= t.size()) return false;
  if (is_space(t[pos]) && pos >= 1) {
    const char p = t[pos - 1];
    if (p == '.' || p == '!' || p == '?') return true;
  }
  if (pos >= 3) {
    const std::string_view tail = t.substr(pos - 3, 3);
    if (tail == "\xE3\x80\x82" || tail == "\xEF\xBC\x81" || tail == "\xEF\xBC\x9F") return true;
  }
  return false;
}

// Where to cut t[from, end) so that the piece ends at a sentence, else a word, in the second half
// of the window; else at `end` (a code-point boundary).
std::size_t cut_point(std::string_view t, std::size_t from, std::size_t end) {
  const std::size_t half = from + (end - from) / 2;
  for (std::size_t p = end; p > half; --p) {
    if (sentence_end_before(t, p)) return p;
  }
  for (std::size_t p = end; p > half; --p) {
    if (is_space(t[p])) return p;
  }
  return end;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

class Chunker {
 public:
  Chunker(std::size_t target, std::size_t overlap) : target_(target), overlap_(overlap) {}

  void heading(int level, const std::string& text) {
    if (has_body_) flush(/*carry_overlap=*/false);
    while (!headings_.empty() && headings_.back().first >= level) headings_.pop_back();
    headings_.emplace_back(level, text);
    // A chunk holding only headings so far belongs to the innermost of them.
    path_ = heading_path();
    add_line(text);
  }

  void body(const std::string& text) {
    if (content_.empty()) path_ = heading_path();
    add_line(text);
    has_body_ = true;
  }

  std::vector<TextChunk> finish() {
    flush(false);
    return std::move(chunks_);
  }

 private:
  std::vector<std::string> heading_path() const {
    std::vector<std::string> path;
    path.reserve(headings_.size());
    for (const auto& h : headings_) path.push_back(h.second);
    return path;
  }

  // Adds one line, cutting it (and the chunk) where it does not fit. The rest of a cut line goes
  // on after the overlap with a space, not a line break: it is the same paragraph.
  void add_line(std::string_view line) {
    bool continued = false;
    while (!line.empty()) {
      const std::size_t sep = content_.empty() ? 0 : 1;
      const std::size_t len = utf8_length(line);
      if (chars_ + sep + len <= target_) {
        append(line, sep, len, continued);
        return;
      }
      // The whole line would fit in a fresh chunk (after the overlap): start one rather than cut
      // a line that need not be cut.
      if (has_text_beyond_overlap() && overlap_chars_len() + 1 + len <= target_) {
        flush(true);
        continue;
      }
      const std::size_t room = target_ > chars_ + sep ? target_ - chars_ - sep : 0;
      // Too little room left for a useful piece: start the next chunk first.
      if (room < target_ / 4 && has_text_beyond_overlap()) {
        flush(true);
        continue;
      }
      if (room == 0) {  // only when a chunk is all overlap and target is tiny
        flush(false);
        continue;
      }
      const std::size_t end = utf8_advance(line, room);
      std::size_t cut = cut_point(line, 0, end);
      if (cut == 0) cut = end;
      const std::string_view piece = trim(line.substr(0, cut));
      if (!piece.empty()) append(piece, sep, utf8_length(piece), continued);
      line = trim(line.substr(cut));
      if (!line.empty()) {
        flush(true);
        continued = true;
      }
    }
  }

  void append(std::string_view text, std::size_t sep, std::size_t len, bool continued) {
    if (sep != 0) content_ += continued ? ' ' : '\n';
    content_.append(text);
    chars_ += sep + len;
  }

  bool has_text_beyond_overlap() const { return !content_.empty() && content_.size() > overlap_bytes_; }

  std::size_t overlap_chars_len() const { return utf8_length(overlap_text()); }

  // The end of the current chunk that the next one repeats: the last overlap_ code points,
  // starting at the first sentence start in that window, else its first word start.
  std::string_view overlap_text() const {
    if (overlap_ == 0 || content_.empty()) return {};
    const std::size_t total = chars_;
    if (total <= overlap_) return trim(content_);
    const std::string_view c(content_);
    std::size_t start = utf8_advance(c, total - overlap_);
    for (std::size_t p = start; p < c.size(); ++p) {
      if (sentence_end_before(c, p)) return trim(c.substr(p));
    }
    for (std::size_t p = start; p < c.size(); ++p) {
      if (is_space(c[p])) return trim(c.substr(p));
    }
    return trim(c.substr(start));
  }

  void flush(bool carry_overlap) {
    const std::string_view tail_view = carry_overlap ? overlap_text() : std::string_view();
    std::string tail(tail_view);
    // A chunk that holds nothing but the previous chunk's end is not emitted.
    if (content_.size() > overlap_bytes_ && !trim(content_).empty()) {
      chunks_.push_back(TextChunk{path_, std::string(trim(content_))});
    }
    content_.clear();
    chars_ = 0;
    overlap_bytes_ = 0;
    has_body_ = false;
    path_ = heading_path();
    if (!tail.empty()) {
      content_ = std::move(tail);
      chars_ = utf8_length(content_);
      overlap_bytes_ = content_.size();
    }
  }

  const std::size_t target_;
  const std::size_t overlap_;
  std::vector<std::pair<int, std::string>> headings_;
  std::vector<std::string> path_;  // heading path of the chunk being filled
  std::string content_;
  std::size_t chars_ = 0;          // code points in content_
  std::size_t overlap_bytes_ = 0;  // content_'s first bytes repeated from the previous chunk
  bool has_body_ = false;          // content_ holds more than headings (and overlap)
  std::vector<TextChunk> chunks_;
};

}  // namespace

std::vector<TextChunk> chunk_blocks(const std::vector<TextBlock>& blocks, std::size_t target_chars,
                                    std::size_t overlap_chars) {
  if (target_chars == 0) throw std::invalid_argument("target_chars must be at least 1");
  if (overlap_chars > target_chars / 2) {
    throw std::invalid_argument("overlap_chars must be at most half of target_chars");
  }
  Chunker chunker(target_chars, overlap_chars);
  for (const TextBlock& b : blocks) {
    if (b.heading_level > 0) {
      chunker.heading(b.heading_level, b.text);
    } else {
      chunker.body(b.text);
    }
  }
  return chunker.finish();
}

}  // namespace plane
