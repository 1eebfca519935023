#include "core/cpp_only.hpp"

#include "core/html_blocks_cache.hpp"

namespace plane {

std::shared_ptr<const std::vector<TextBlock>> HtmlBlocksCache::blocks(std::string_view html) {
  // unordered_map::find(string_view) needs C++20's heterogeneous lookup: build the key once.
  std::string key(html);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    ++hits_;
    return it->second.blocks;
  }
  auto result = std::make_shared<const std::vector<TextBlock>>(html_blocks(html));
  if (html.size() > max_document_bytes_ || max_entries_ == 0) return result;
  std::size_t bytes = 2 * html.size();  // the key, and about as much text
  while (!order_.empty() && (entries_.size() >= max_entries_ || bytes_ + bytes > max_bytes_)) evict_oldest();
  auto [inserted, ok] = entries_.emplace(std::move(key), Entry{result, bytes});
  if (ok) {
    order_.push_back(&inserted->first);  // node-based map: the key's address is stable
    bytes_ += bytes;
  }
  return result;
}

void HtmlBlocksCache::evict_oldest() {
  auto it = entries_.find(*order_.front());
  order_.pop_front();
  if (it == entries_.end()) return;
  bytes_ -= it->second.bytes;
  entries_.erase(it);
}

HtmlBlocksCache& recent_html_blocks() {
  static HtmlBlocksCache cache(512, 4u << 20, 256u << 10);
  return cache;
}

std::string remembered_html_to_text(std::string_view html) {
  return blocks_to_text(*recent_html_blocks().blocks(html));
}

}  // namespace plane
