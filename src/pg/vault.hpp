// Credentials from Supabase Vault (vault.decrypted_secrets), read by name at the moment of use and
// never cached, logged, or copied into another table (see README, "Credentials").
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

// The webhook path's two lookups in one statement: whether `slug` is an installation, and the
// secret `secret_name` ("" when missing). A missing Vault throws as above when the slug is
// installed. Vault's presence is checked once per process, then trusted until an error.
struct InstallationSecret {
  bool installed = false;
  std::string secret;
};
InstallationSecret read_installation_secret_in_transaction(const std::string& slug,
                                                           const std::string& secret_name);

// Creates the Vault secret `name` with `value`, or replaces the value of the one that exists
// (vault.create_secret / vault.update_secret), in the caller's transaction. The value travels as
// a statement parameter, never in SQL text, and SPI's copy is wiped. Errors as read_* above.
void store_vault_secret_in_transaction(const std::string& name, const std::string& value,
                                       const std::string& description);

}  // namespace plane::pg
