#pragma once

#include <stdexcept>
#include <string>

namespace plane {

// What went wrong, as far as a caller deciding "retry, give up or report" cares.
enum class ErrorKind {
  Transport,    // connection refused, reset, DNS, TLS, truncated body
  Timeout,      // the request took longer than its timeout
  Cancelled,    // the caller asked us to stop (SIGTERM, cancel_sync)
  Http,         // Plane answered with an error status we do not retry (4xx)
  ServerError,  // 5xx: retried, then reported
  RateLimited,  // 429 that outlasted our patience
  Auth,         // the credential is missing, wrong or expired (401, or 403 on a workspace-level call)
  Forbidden,    // 403 on one resource: the key's user may not read it (not a credential failure)
  Parse,        // a body that is not the JSON shape Plane documents
  Config,       // bad settings (URL, slug, missing secret)
  Internal,
};

const char* error_kind_name(ErrorKind kind);

// The one exception type the core throws. Messages never contain credentials.
class PlaneError : public std::runtime_error {
 public:
  PlaneError(ErrorKind kind, const std::string& message, long http_status = 0)
      : std::runtime_error(message), kind_(kind), http_status_(http_status) {}

  ErrorKind kind() const noexcept { return kind_; }
  long http_status() const noexcept { return http_status_; }
  // Worth another attempt after a backoff: the peer may behave next time.
  bool retryable() const noexcept {
    return kind_ == ErrorKind::Transport || kind_ == ErrorKind::Timeout ||
           kind_ == ErrorKind::ServerError || kind_ == ErrorKind::Parse ||
           kind_ == ErrorKind::RateLimited;
  }

 private:
  ErrorKind kind_;
  long http_status_;
};

}  // namespace plane
