#include "pg/shared_budget.hpp"

#include "core/digest.hpp"
#include "core/rate_budget.hpp"
#include "pg/shared_state.hpp"

namespace plane::pg {

std::int64_t SharedRequestBudget::reserve(std::int64_t now_ms) {
  return with_shared_budget(key_id_.c_str(), now_ms, [&](plane::BudgetState& state) noexcept {
    return plane::SlidingWindowBudget(state, limit_, window_ms_).reserve(now_ms);
  });
}

void SharedRequestBudget::observe(std::int64_t now_ms, long status, std::optional<long> remaining,
                                  std::optional<long> retry_after_s) {
  with_shared_budget(key_id_.c_str(), now_ms, [&](plane::BudgetState& state) noexcept {
    plane::SlidingWindowBudget(state, limit_, window_ms_).observe(now_ms, status, remaining,
                                                                  retry_after_s);
    return 0;
  });
}

std::string budget_key_id(const std::string& api_url, const std::string& key) {
  std::string material = api_url + "\n" + key;
  std::string id = plane::sha256_hex(material);
  plane::secure_wipe(material);
  return id;
}

}  // namespace plane::pg
