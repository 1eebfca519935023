#include "pg/vault.hpp"

#include <cstring>

#include "core/errors.hpp"
#include "pg/boundary.hpp"
#include "pg/spi_plan.hpp"

namespace plane::pg {

namespace {

enum class VaultLookup { Found, NoVault, NotFound };

std::string names_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += "' or '";
    out += n;
  }
  return "'" + out + "'";
}

}  // namespace

namespace {

// Looks the secret up with SPI already connected; only C-level work inside (see pg_call).
// Prepared once per process: secrets are read on every request and every webhook delivery.
KeptPlan has_vault_plan{"SELECT to_regclass('vault.decrypted_secrets') IS NOT NULL", 0, {}, nullptr};
KeptPlan read_secret_plan{
    "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name IN ($1, $2) "
    "AND decrypted_secret IS NOT NULL ORDER BY (name = $1) DESC LIMIT 1",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

void lookup_secret(const char* first, const char* second, std::string& role, std::string& secret,
                   VaultLookup& lookup) noexcept {
  role = GetUserNameFromId(GetUserId(), false);
  exec_kept(has_vault_plan, nullptr, nullptr, true, SPI_OK_SELECT);
  bool isnull = false;
  const bool has_vault =
      DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  if (!has_vault) {
    lookup = VaultLookup::NoVault;
    return;
  }
  Datum values[2] = {CStringGetTextDatum(first), CStringGetTextDatum(second)};
  exec_kept(read_secret_plan, values, nullptr, true, SPI_OK_SELECT);
  if (SPI_processed == 0) {
    lookup = VaultLookup::NotFound;
    return;
  }
  char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  if (value != nullptr) {
    secret.assign(value);
    explicit_bzero(value, strlen(value));  // the copy in SPI memory is wiped, not just freed
    pfree(value);
    lookup = VaultLookup::Found;
  }
}

std::string read_secret(const std::vector<std::string>& names, bool own_transaction,
                        bool required) {
  const std::string first = names.at(0);
  const std::string second = names.size() > 1 ? names[1] : names[0];
  std::string secret;
  std::string role;
  VaultLookup lookup = VaultLookup::NotFound;
  try {
    if (own_transaction) {
      in_transaction([&]() noexcept { lookup_secret(first.c_str(), second.c_str(), role, secret, lookup); });
    } else {
      pg_call([&]() noexcept {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "plane_connector: SPI_connect failed");
        lookup_secret(first.c_str(), second.c_str(), role, secret, lookup);
        SPI_finish();
      });
    }
  } catch (const PgError& e) {
    if (e.sqlerrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE) {
      throw PlaneError(ErrorKind::Config,
                       "role \"" + role + "\" may not read Vault secret " + names_list(names) +
                           ": GRANT SELECT ON vault.decrypted_secrets and EXECUTE ON FUNCTION "
                           "vault._crypto_aead_det_decrypt to it (or run the workers as the "
                           "Vault owner)");
    }
    throw;
  }
  switch (lookup) {
    case VaultLookup::Found: return secret;
    case VaultLookup::NoVault:
      throw PlaneError(ErrorKind::Config,
                       "Supabase Vault is not installed (no vault.decrypted_secrets): install the "
                       "supabase_vault extension, then store the secret with "
                       "SELECT vault.create_secret('<value>', " + names_list({first}) + ")");
    case VaultLookup::NotFound: break;
  }
  if (!required) return "";
  throw PlaneError(ErrorKind::Config, "no Vault secret named " + names_list(names) +
                                          ": store it with SELECT vault.create_secret('<value>', '" +
                                          first + "')");
}

}  // namespace

std::string read_vault_secret(const std::vector<std::string>& names) {
  return read_secret(names, /*own_transaction=*/true, /*required=*/true);
}

std::string read_vault_secret_in_transaction(const std::vector<std::string>& names, bool required) {
  return read_secret(names, /*own_transaction=*/false, required);
}

plane::Credential VaultApiKeySource::credential() {
  return plane::Credential("X-API-Key", read_vault_secret({"plane_api_key:" + slug_, "plane_api_key"}));
}

}  // namespace plane::pg
