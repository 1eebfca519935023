// Credentials from Supabase Vault (vault.decrypted_secrets), read by name at the moment of use and
// never cached, logged, or copied into another table (design brief, "Vault key names").
#pragma once

#include <string>
#include <vector>

#include "core/runtime.hpp"

namespace plane::pg {

// Reads the first of `names` that exists (in that order). Throws PlaneError(Config) with a
// distinct message when Vault is missing, no secret exists, or the role may not read it.
// The secret's value never appears in any message. Must be called outside a transaction
// (background workers); it runs its own short transaction.
std::string read_vault_secret(const std::vector<std::string>& names);

// The same inside the caller's transaction (SQL functions). With required = false a missing secret
// returns "" (a missing Vault still throws).
std::string read_vault_secret_in_transaction(const std::vector<std::string>& names, bool required);

// The workspace's API key: "plane_api_key:{slug}", else "plane_api_key"; sent as X-API-Key.
class VaultApiKeySource final : public plane::CredentialSource {
 public:
  explicit VaultApiKeySource(std::string slug) : slug_(std::move(slug)) {}
  plane::Credential credential() override;

 private:
  std::string slug_;
};

}  // namespace plane::pg
