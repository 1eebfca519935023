// The request budget of one API key in shared memory: every sync worker (and, later, the writeback
// and webhook workers) using the same key draws from one sliding window, so together they never
// burst past Plane's per-key limit (one window shared by every endpoint).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/runtime.hpp"

namespace plane::pg {

class SharedRequestBudget final : public plane::RequestBudget {
 public:
  // key_id: a digest of (API URL, key), see budget_key_id.
  SharedRequestBudget(std::string key_id, int limit, std::int64_t window_ms)
      : key_id_(std::move(key_id)), limit_(limit), window_ms_(window_ms) {}
  std::int64_t reserve(std::int64_t now_ms) override;
  void observe(std::int64_t now_ms, long status, std::optional<long> remaining,
               std::optional<long> retry_after_s) override;

 private:
  std::string key_id_;
  int limit_;
  std::int64_t window_ms_;
};

// SHA-256 of "api_url\nkey": identifies a budget without storing anything that reveals the key.
std::string budget_key_id(const std::string& api_url, const std::string& key);

}  // namespace plane::pg
