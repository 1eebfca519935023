// Accepting one webhook delivery: the rules of work_plane.ingest_webhook, behind a port. In order:
// the workspace (404), the size (413), the secret (503 when none is stored: Plane Cloud retries
// 5xx), the signature (401), the JSON (400), then the idempotent enqueue (200, a duplicate too).
// The Postgres layer reads secrets, parses and stores (IntakePort).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json_tokens.hpp"
#include "core/webhook_auth.hpp"
#include "core/webhook_envelope.hpp"

namespace plane {

// A backend's recently read webhook secrets, so that a burst of deliveries does not read Vault for
// each. Plain fixed-size storage, no allocation: wipe_expired may run from a timer's signal
// handler, which is how a lapsed secret is wiped even in a backend that then sits idle.
class SecretCache {
 public:
  static constexpr std::size_t kSlots = 16;
  static constexpr std::size_t kMaxSecret = 255;  // longer secrets are read every time
  static constexpr std::size_t kMaxSlug = 48;

  // The secret read less than `ttl_ms` ago; empty view when none (or the cache is off).
  std::string_view get(std::string_view slug, std::int64_t now_ms, std::int64_t ttl_ms) const noexcept;
  void put(std::string_view slug, std::string_view secret, std::int64_t now_ms) noexcept;
  void forget(std::string_view slug) noexcept;
  // Wipes every secret read `ttl_ms` or more before now_ms; returns the earliest time a kept one
  // will lapse (0: none kept).
  std::int64_t wipe_expired(std::int64_t now_ms, std::int64_t ttl_ms) noexcept;
  void wipe_all() noexcept;

 private:
  struct Slot {
    bool used;
    char slug[kMaxSlug + 1];
    char secret[kMaxSecret + 1];
    std::size_t secret_len;
    std::int64_t read_at_ms;
  };
  Slot slots_[kSlots] = {};
};

enum class SecretStatus { Found, NotInstalled, NoSecret };

struct SecretRead {
  SecretStatus status = SecretStatus::NotInstalled;
  std::string secret;  // Found only; the caller wipes it
};

enum class IntakeCounter { Accepted, Duplicate, Unauthorized, Malformed, TooLarge };

class IntakePort {
 public:
  virtual ~IntakePort() = default;
  // Whether a queue worker will apply what is enqueued here ("" yes, else why not: the library is
  // preloaded for another database, or this is a standby). Refused deliveries get 503.
  virtual std::string unserved_reason() = 0;
  // Whether the workspace is installed, and its webhook secret, read now.
  virtual SecretRead read_secret(const std::string& slug) = 0;
  // The body parsed as the queue will keep it; false when it is not JSON the queue can store.
  virtual bool parse_body(std::string_view body, const JsonToken*& tokens, std::size_t& count) = 0;
  // Enqueues the parsed body under event.idempotency_key with `status`; false for a duplicate.
  virtual bool enqueue(const WebhookEvent& event, const char* status) = 0;
  virtual void count(const std::string& slug, IntakeCounter counter) = 0;
  virtual void warn(const std::string& message, const std::string& hint) = 0;
  virtual std::int64_t now_ms() = 0;
};

struct IntakeOptions {
  WebhookAuthOptions auth;
  std::int64_t secret_cache_ms = 1000;  // reuse a secret this long (0: read it for every delivery)
};

struct IntakeResult {
  int status = 500;
  bool enqueued = false;  // a new row of an event the queue applies: wake the queue worker
};

IntakeResult accept_delivery(IntakePort& port, SecretCache& cache, const IntakeOptions& options,
                             const std::string& slug, const HeaderMap& headers, std::string_view body);

}  // namespace plane
