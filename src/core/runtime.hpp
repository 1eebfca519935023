#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/rate_budget.hpp"

namespace plane {

// How the core waits and learns that it should stop. The Postgres layer implements it with latch
// waits and the backend's interrupt flags; unit tests with a fake clock.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual bool cancelled() = 0;
  // Waits up to ms milliseconds; throws PlaneError(Cancelled) when asked to stop meanwhile.
  virtual void wait_ms(std::int64_t ms) = 0;
  virtual std::int64_t now_ms() = 0;  // monotonic enough for pacing; wall clock is fine
};

// A credential read at the moment of use (never cached). Wiped on destruction.
struct Credential {
  std::string header;  // "X-API-Key" or "Authorization"
  std::string value;   // the key, or "Bearer <token>"
  Credential() = default;
  Credential(std::string h, std::string v) : header(std::move(h)), value(std::move(v)) {}
  Credential(const Credential&) = delete;
  Credential& operator=(const Credential&) = delete;
  Credential(Credential&&) = default;
  Credential& operator=(Credential&&) = default;
  ~Credential();
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  virtual Credential credential() = 0;  // throws PlaneError(Config) when the secret is missing
  // Called when Plane refused the credential (401/403); returns true if a new one was obtained
  // (for example an OAuth refresh) and the request is worth repeating once.
  virtual bool refresh_after_rejection() { return false; }
};

// The request budget of one API key. Implementations: process-local (below) or shared memory.
class RequestBudget {
 public:
  virtual ~RequestBudget() = default;
  virtual std::int64_t reserve(std::int64_t now_ms) = 0;
  virtual void observe(std::int64_t now_ms, long status, std::optional<long> remaining,
                       std::optional<long> retry_after_s) = 0;
};

class LocalRequestBudget final : public RequestBudget {
 public:
  LocalRequestBudget(int limit, std::int64_t window_ms);
  std::int64_t reserve(std::int64_t now_ms) override;
  void observe(std::int64_t now_ms, long status, std::optional<long> remaining,
               std::optional<long> retry_after_s) override;
  const BudgetState& state() const { return *state_; }

 private:
  std::unique_ptr<BudgetState> state_;
  SlidingWindowBudget budget_;
};

// Wipes a string's bytes in a way the compiler may not optimise away.
void secure_wipe(std::string& s);

}  // namespace plane
