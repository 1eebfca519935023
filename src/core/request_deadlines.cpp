#include "core/cpp_only.hpp"

#include "core/request_deadlines.hpp"

#include <algorithm>

namespace plane {

void RequestDeadlines::track(const void* connection, int fd, std::int64_t now_ms) {
  entries_[connection] = Entry{fd, now_ms, false};
}

void RequestDeadlines::restart(const void* connection, std::int64_t now_ms) {
  auto it = entries_.find(connection);
  if (it == entries_.end() || it->second.expired) return;  // a shut-down socket stays shut
  it->second.began_ms = now_ms;
}

void RequestDeadlines::forget(const void* connection) { entries_.erase(connection); }

std::vector<int> RequestDeadlines::overdue(std::int64_t now_ms, std::int64_t deadline_ms) {
  std::vector<int> fds;
  for (auto& [connection, entry] : entries_) {
    if (!entry.expired && now_ms - entry.began_ms >= deadline_ms) {
      entry.expired = true;
      fds.push_back(entry.fd);
    }
  }
  return fds;
}

std::optional<std::int64_t> RequestDeadlines::next_expiry_ms(std::int64_t now_ms,
                                                             std::int64_t deadline_ms) const {
  std::optional<std::int64_t> next;
  for (const auto& [connection, entry] : entries_) {
    if (entry.expired) continue;
    const std::int64_t left = std::max<std::int64_t>(0, entry.began_ms + deadline_ms - now_ms);
    if (!next || left < *next) next = left;
  }
  return next;
}

}  // namespace plane
