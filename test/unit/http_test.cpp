// Unit tests for src/core/http: CurlTransport against a tiny in-process HTTP server on
// 127.0.0.1 (a std::thread with a POSIX socket answering canned responses), plus url_encode and
// HttpResponse::header. No sleeps for synchronisation: the server signals through atomics and
// every wait polls with a deadline.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/errors.hpp"
#include "core/http.hpp"

namespace {

using plane::CurlTransport;
using plane::ErrorKind;
using plane::HttpRequest;
using plane::HttpResponse;
using plane::PlaneError;
using Clock = std::chrono::steady_clock;

// A canned-response HTTP/1.1 server. Each accepted connection gets the next reply (the last one
// repeats). A reply with hang=true reads the request and then never answers until the client
// goes away or the server is destroyed.
class TinyServer {
 public:
  struct Reply {
    std::string raw;
    bool hang = false;
  };

  explicit TinyServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket() failed");
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 8) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~TinyServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  TinyServer(const TinyServer&) = delete;
  TinyServer& operator=(const TinyServer&) = delete;

  std::string url(const std::string& path_and_query = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path_and_query;
  }
  int requests_received() const { return received_.load(); }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  // Waits until fd is readable or the server stops; false on stop.
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      const int r = ::poll(&p, 1, 20);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
    return false;
  }

  void run() {
    size_t next = 0;
    while (wait_readable(listen_fd_)) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      const Reply& reply = replies_[std::min(next, replies_.size() - 1)];
      ++next;
      serve(fd, reply);
      ::close(fd);
    }
  }

  void serve(int fd, const Reply& reply) {
    std::string in;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t need = 0;
    for (;;) {
      if (header_end != std::string::npos && in.size() >= header_end + 4 + need) break;
      if (!wait_readable(fd)) return;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end != std::string::npos) need = content_length(in.substr(0, header_end));
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(in);
    }
    ++received_;
    if (reply.hang) {
      // Never answer; return when the client hangs up or the server stops.
      while (wait_readable(fd)) {
        if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
      }
      return;
    }
    size_t off = 0;
    while (off < reply.raw.size()) {
      const ssize_t n = ::send(fd, reply.raw.data() + off, reply.raw.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    // Let the client read everything and close first (avoids a RST racing the response).
    while (wait_readable(fd)) {
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
  }

  static size_t content_length(const std::string& head) {
    std::string lower;
    for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto pos = lower.find("\r\ncontent-length:");
    if (pos == std::string::npos) return 0;
    return static_cast<size_t>(std::stoul(lower.substr(pos + 17)));
  }

  std::vector<Reply> replies_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> received_{0};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

std::string http_response(const std::string& status_line, const std::string& headers,
                          const std::string& body) {
  return "HTTP/1.1 " + status_line + "\r\n" + headers + "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::optional<PlaneError> error_of(CurlTransport& t, const HttpRequest& r) {
  try {
    t.perform(r);
  } catch (const PlaneError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a PlaneError";
  return std::nullopt;
}

// A port on 127.0.0.1 with nothing listening (bound, then released).
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(CurlTransport, ParsesStatusHeadersAndBody) {
  const std::string body = R"({"results": [], "next_page_results": false})";
  TinyServer server({{http_response("201 Created",
                                    "Content-Type: application/json\r\n"
                                    "X-RateLimit-Remaining: 42\r\n"
                                    "X-Custom-Header:   spaced value  \r\n",
                                    body)}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/api/v1/workspaces/acme/projects/?per_page=100");
  const HttpResponse response = transport.perform(request);
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, body);
  EXPECT_EQ(response.header("x-ratelimit-remaining"), "42");
  EXPECT_EQ(response.header("X-RateLimit-Remaining"), "42");
  EXPECT_EQ(response.header("X-RATELIMIT-REMAINING"), "42");
  EXPECT_EQ(response.header("content-type"), "application/json");
  EXPECT_EQ(response.header("x-custom-header"), "spaced value");
  EXPECT_FALSE(response.header("retry-after").has_value());
  for (const auto& [name, value] : response.headers) {
    for (char c : name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << name;
    EXPECT_EQ(name.find(':'), std::string::npos);
    EXPECT_FALSE(value.empty() ? false : std::isspace(static_cast<unsigned char>(value.back())))
        << name;
  }
}

TEST(CurlTransport, SendsMethodPathHeadersAndBody) {
  TinyServer server({{http_response("200 OK", "", "{}")}});
  CurlTransport transport;
  HttpRequest request;
  request.method = "PATCH";
  request.url = server.url("/api/v1/workspaces/acme/projects/p1/?x=a%20b");
  request.headers = {{"X-API-Key", "plane_api_test"}, {"Content-Type", "application/json"}};
  request.body = R"({"name": "renamed"})";
  const HttpResponse response = transport.perform(request);
  EXPECT_EQ(response.status, 200);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& raw = requests[0];
  EXPECT_EQ(raw.rfind("PATCH /api/v1/workspaces/acme/projects/p1/?x=a%20b HTTP/1.1\r\n", 0), 0u)
      << raw;
  EXPECT_NE(raw.find("\r\nX-API-Key: plane_api_test\r\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.size() - request.body.size()), request.body);
}

TEST(CurlTransport, GetSendsNoBody) {
  TinyServer server({{http_response("200 OK", "", "[]")}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/x/");
  request.headers = {{"Accept", "application/json"}};
  EXPECT_EQ(transport.perform(request).body, "[]");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].rfind("GET /x/ HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(requests[0].substr(requests[0].size() - 4), "\r\n\r\n");
}

TEST(CurlTransport, ErrorStatusesAreNormalReturns) {
  TinyServer server({{http_response("404 Not Found", "", R"({"detail": "Not found."})")},
                     {http_response("429 Too Many Requests", "Retry-After: 17\r\n",
                                    R"({"error_code": 5900})")},
                     {http_response("503 Service Unavailable", "", "down")}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  HttpResponse r = transport.perform(request);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"detail": "Not found."})");
  r = transport.perform(request);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("Retry-After"), "17");
  r = transport.perform(request);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "down");
  EXPECT_FALSE(r.header("retry-after").has_value());  // no headers left over from before
}

TEST(CurlTransport, ChunkedBodyIsReassembled) {
  TinyServer server({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  EXPECT_EQ(transport.perform(request).body, "hello, world");
}

TEST(CurlTransport, InterimResponseHeadersAreDiscarded) {
  TinyServer server({{"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" +
                      http_response("200 OK", "X-Final: yes\r\n", "ok")}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  const HttpResponse r = transport.perform(request);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.header("x-final"), "yes");
  EXPECT_FALSE(r.header("x-interim").has_value());
}

TEST(CurlTransport, RedirectsAreNotFollowed) {
  TinyServer server({{http_response("302 Found", "Location: http://127.0.0.1:1/elsewhere\r\n", "")}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  const HttpResponse r = transport.perform(request);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.header("location"), "http://127.0.0.1:1/elsewhere");
  EXPECT_EQ(server.requests_received(), 1);
}

TEST(CurlTransport, TransportIsReusableAcrossRequests) {
  TinyServer server({{http_response("200 OK", "", "one")}, {http_response("200 OK", "", "two")}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  EXPECT_EQ(transport.perform(request).body, "one");
  EXPECT_EQ(transport.perform(request).body, "two");
}

TEST(CurlTransport, OversizedBodyIsRejected) {
  TinyServer server({{http_response("200 OK", "", std::string(10000, 'x'))}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  request.max_response_bytes = 1000;
  auto e = error_of(transport, request);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Parse);
}

TEST(CurlTransport, TimeoutIsTimeoutError) {
  TinyServer server({{"", /*hang=*/true}});
  CurlTransport transport;
  HttpRequest request;
  request.url = server.url("/");
  request.timeout_ms = 300;
  const auto start = Clock::now();
  auto e = error_of(transport, request);
  const double elapsed = seconds_since(start);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Timeout) << e->what();
  EXPECT_TRUE(e->retryable());
  EXPECT_GE(elapsed, 0.25);
  EXPECT_LT(elapsed, 2.0);
  EXPECT_EQ(server.requests_received(), 1);
}

TEST(CurlTransport, CancelStopsAHungRequestPromptly) {
  TinyServer server({{"", /*hang=*/true}, {http_response("200 OK", "", "after")}});
  // Cancel once the server holds the request (the way a SIGTERM arrives mid-request). The request
  // timeout is far away: only the cancel predicate can end this within the bound.
  CurlTransport transport([&server] { return server.requests_received() >= 1; });
  HttpRequest request;
  request.url = server.url("/");
  request.timeout_ms = 30000;
  const auto start = Clock::now();
  auto e = error_of(transport, request);
  const double elapsed = seconds_since(start);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Cancelled) << e->what();
  EXPECT_FALSE(e->retryable());
  EXPECT_LT(elapsed, 2.0);
}

TEST(CurlTransport, UsableAgainAfterCancel) {
  TinyServer server({{"", /*hang=*/true}, {http_response("200 OK", "", "after")}});
  std::atomic<bool> armed{true};
  CurlTransport transport([&] { return armed.load() && server.requests_received() >= 1; });
  HttpRequest request;
  request.url = server.url("/");
  request.timeout_ms = 30000;
  auto e = error_of(transport, request);
  ASSERT_TRUE(e);
  ASSERT_EQ(e->kind(), ErrorKind::Cancelled);
  armed = false;
  // The hung connection must not be reused: the next request gets the second canned reply.
  request.timeout_ms = 5000;
  const HttpResponse r = transport.perform(request);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "after");
}

TEST(CurlTransport, CancelBeforeStartSendsNothing) {
  TinyServer server({{http_response("200 OK", "", "x")}});
  CurlTransport transport([] { return true; });
  HttpRequest request;
  request.url = server.url("/");
  auto e = error_of(transport, request);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Cancelled);
  EXPECT_EQ(server.requests_received(), 0);
}

TEST(CurlTransport, ConnectionRefusedIsTransportError) {
  CurlTransport transport;
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/";
  const auto start = Clock::now();
  auto e = error_of(transport, request);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Transport) << e->what();
  EXPECT_TRUE(e->retryable());
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST(CurlTransport, NonHttpSchemesAreRefused) {
  CurlTransport transport;
  HttpRequest request;
  request.url = "file:///etc/passwd";
  auto e = error_of(transport, request);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Transport) << e->what();
}

TEST(HttpResponseHeader, CaseInsensitiveLookupFirstMatch) {
  HttpResponse r;
  r.headers = {{"x-ratelimit-remaining", "5"}, {"retry-after", "3"}, {"retry-after", "9"}};
  EXPECT_EQ(r.header("Retry-After"), "3");
  EXPECT_EQ(r.header("RETRY-AFTER"), "3");
  EXPECT_EQ(r.header("X-RateLimit-Remaining"), "5");
  EXPECT_FALSE(r.header("X-RateLimit-Reset").has_value());
  EXPECT_FALSE(r.header("").has_value());
}

TEST(UrlEncode, UnreservedPassThrough) {
  EXPECT_EQ(plane::url_encode("abcXYZ019-._~"), "abcXYZ019-._~");
  EXPECT_EQ(plane::url_encode("acme"), "acme");
}

TEST(UrlEncode, ReservedAndOtherBytesAreEscaped) {
  EXPECT_EQ(plane::url_encode("a b"), "a%20b");
  EXPECT_EQ(plane::url_encode("100:1:0"), "100%3A1%3A0");
  EXPECT_EQ(plane::url_encode("a/b?c=d&e#f+g%"), "a%2Fb%3Fc%3Dd%26e%23f%2Bg%25");
  EXPECT_EQ(plane::url_encode("é"), "%C3%A9");
  EXPECT_EQ(plane::url_encode(std::string_view("a\0b", 3)), "a%00b");
}

TEST(UrlEncode, EmptyInput) {
  EXPECT_EQ(plane::url_encode(""), "");
  EXPECT_EQ(plane::url_encode(std::string_view()), "");
  // An empty view into a longer buffer must encode nothing, not the rest of the buffer.
  const char* text = "leak";
  EXPECT_EQ(plane::url_encode(std::string_view(text, 0)), "");
}

TEST(UrlEncode, UsesOnlyTheViewsBytes) {
  const std::string text = "abc def";
  EXPECT_EQ(plane::url_encode(std::string_view(text).substr(0, 3)), "abc");
  EXPECT_EQ(plane::url_encode(std::string_view(text).substr(3, 2)), "%20d");
}

}  // namespace
