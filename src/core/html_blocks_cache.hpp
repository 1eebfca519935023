// A small memo of recent HTML → lines results. In a mirror upsert the same description is laid
// out twice: by html_to_text for the row's text column, then by html_chunks in the statement's
// trigger, a few hundred rows later. Parsing is most of either call; the second one finds the
// lines here. Bounded in entries and bytes; a document larger than max_document_bytes is never
// kept.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/html_text.hpp"

namespace plane {

class HtmlBlocksCache {
 public:
  HtmlBlocksCache(std::size_t max_entries, std::size_t max_bytes, std::size_t max_document_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes), max_document_bytes_(max_document_bytes) {}

  // html_blocks(html), from the memo when html was laid out recently.
  std::shared_ptr<const std::vector<TextBlock>> blocks(std::string_view html);

  std::size_t size() const { return entries_.size(); }
  std::size_t hits() const { return hits_; }

 private:
  struct Entry {
    std::shared_ptr<const std::vector<TextBlock>> blocks;
    std::size_t bytes;
  };
  void evict_oldest();

  std::size_t max_entries_;
  std::size_t max_bytes_;
  std::size_t max_document_bytes_;
  std::size_t bytes_ = 0;
  std::size_t hits_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<const std::string*> order_;  // keys of entries_, oldest first
};

// The process's memo (a Postgres backend is single-threaded): the mappers lay out descriptions
// and page content with it, and the chunk trigger's html_chunks finds them there. At most 512
// documents and 4 MiB; documents over 256 KiB are not kept.
HtmlBlocksCache& recent_html_blocks();

// html_to_text through recent_html_blocks().
std::string remembered_html_to_text(std::string_view html);

}  // namespace plane
