// Absolute per-request deadlines for the embedded webhook receiver. libmicrohttpd's connection
// timeout is an idle timeout: a client that trickles one header byte at a time never reaches it
// and holds its connection slot for ever (slow loris). This table remembers when each
// connection's current request began — the connection's accept, or the end of the previous
// request on a kept-alive connection — and names the sockets whose request has outlived the
// deadline, so that the receiver can shut them down. Plain data and an explicit clock (integer
// milliseconds), so that it is unit-tested without a socket.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace plane {

class RequestDeadlines {
 public:
  // A new connection on socket fd; its first request begins now.
  void track(const void* connection, int fd, std::int64_t now_ms);
  // The connection's request has been answered: a kept-alive connection's next request begins now.
  void restart(const void* connection, std::int64_t now_ms);
  // The connection is closed.
  void forget(const void* connection);

  // Sockets whose current request began at least deadline_ms ago. Each is returned once: the
  // caller shuts it down, and the connection is forgotten when it closes.
  std::vector<int> overdue(std::int64_t now_ms, std::int64_t deadline_ms);

  // Milliseconds until the next request reaches the deadline (0 if one has and was not yet
  // returned by overdue), or nothing when no request is waiting for one.
  std::optional<std::int64_t> next_expiry_ms(std::int64_t now_ms, std::int64_t deadline_ms) const;

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int fd;
    std::int64_t began_ms;
    bool expired;  // already returned by overdue()
  };
  std::unordered_map<const void*, Entry> entries_;
};

}  // namespace plane
