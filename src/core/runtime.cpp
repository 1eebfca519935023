#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/runtime.hpp"

#include <openssl/crypto.h>

namespace plane {

void secure_wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

Credential::~Credential() { secure_wipe(value); }

LocalRequestBudget::LocalRequestBudget(int limit, std::int64_t window_ms)
    : state_(std::make_unique<BudgetState>()), budget_(*state_, limit, window_ms) {
  budget_reset(*state_);
}

std::int64_t LocalRequestBudget::reserve(std::int64_t now_ms) { return budget_.reserve(now_ms); }

void LocalRequestBudget::observe(std::int64_t now_ms, long status, std::optional<long> remaining,
                                 std::optional<long> retry_after_s) {
  budget_.observe(now_ms, status, remaining, retry_after_s);
}

}  // namespace plane
