#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plane {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;
  long timeout_ms = 30000;
  long connect_timeout_ms = 10000;
  std::size_t max_response_bytes = 64u * 1024u * 1024u;
};

struct HttpResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;

  // Case-insensitive header lookup (HTTP header names are case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
};

// Where requests go. An interface so that the Plane client can be unit-tested with canned replies.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Throws PlaneError(Transport|Timeout|Cancelled); any HTTP status is a normal return.
  virtual HttpResponse perform(const HttpRequest& request) = 0;
};

// libcurl-backed transport. Drives one easy handle through a multi handle so that it can poll the
// cancel predicate every ~50 ms: a SIGTERM or a cancel request stops a hung request within a second,
// not when the timeout expires.
class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(std::function<bool()> cancelled = {});
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  HttpResponse perform(const HttpRequest& request) override;

 private:
  std::function<bool()> cancelled_;
  void* multi_ = nullptr;  // CURLM*, kept to reuse connections across requests
  void* easy_ = nullptr;   // CURL*, reused for keep-alive
};

// Percent-encodes one path segment or query value (RFC 3986 unreserved characters pass through).
std::string url_encode(std::string_view value);

}  // namespace plane
