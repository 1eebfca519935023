#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/errors.hpp"

namespace plane {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Transport: return "transport";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Http: return "http";
    case ErrorKind::ServerError: return "server_error";
    case ErrorKind::RateLimited: return "rate_limited";
    case ErrorKind::Auth: return "auth";
    case ErrorKind::Forbidden: return "forbidden";
    case ErrorKind::Parse: return "parse";
    case ErrorKind::Config: return "config";
    case ErrorKind::Internal: return "internal";
  }
  return "unknown";
}

}  // namespace plane
