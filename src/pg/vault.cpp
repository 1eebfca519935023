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

// The three ways Vault access fails, worded once: each names the secret, never its value.
PlaneError read_denied(const std::string& role, const std::string& quoted_names) {
  return PlaneError(ErrorKind::Config,
                    "role \"" + role + "\" may not read Vault secret " + quoted_names +
                        ": GRANT SELECT ON vault.decrypted_secrets and EXECUTE ON FUNCTION "
                        "vault._crypto_aead_det_decrypt to it (or run the workers as the "
                        "Vault owner)");
}

PlaneError write_denied(const std::string& role, const std::string& name) {
  return PlaneError(ErrorKind::Config,
                    "role \"" + role + "\" may not write Vault secret '" + name +
                        "': GRANT EXECUTE ON FUNCTION vault.create_secret, vault.update_secret "
                        "and SELECT ON vault.secrets to it (or run as the Vault owner)");
}

PlaneError vault_missing(const std::string& quoted_name) {
  return PlaneError(ErrorKind::Config,
                    "Supabase Vault is not installed (no vault.decrypted_secrets): install the "
                    "supabase_vault extension, then store the secret with "
                    "SELECT vault.create_secret('<value>', " + quoted_name + ")");
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
    const bool copied = cpp_try([&] { secret.assign(value); });
    explicit_bzero(value, strlen(value));  // the copy in SPI memory is wiped, not just freed
    pfree(value);
    if (!copied) raise_cpp_failure(true, "");
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
        spi_connect();
        lookup_secret(first.c_str(), second.c_str(), role, secret, lookup);
        SPI_finish();
      });
    }
  } catch (const PgError& e) {
    if (e.sqlerrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE) throw read_denied(role, names_list(names));
    throw;
  }
  switch (lookup) {
    case VaultLookup::Found: return secret;
    case VaultLookup::NoVault: throw vault_missing(names_list({first}));
    case VaultLookup::NotFound: break;
  }
  if (!required) return "";
  throw PlaneError(ErrorKind::Config, "no Vault secret named " + names_list(names) +
                                          ": store it with SELECT vault.create_secret('<value>', '" +
                                          first + "')");
}

}  // namespace

namespace {

bool vault_seen = false;  // this process has found vault.decrypted_secrets

KeptPlan installation_secret_plan{
    "SELECT EXISTS (SELECT 1 FROM work_plane.installations WHERE workspace_slug = $1), "
    "(SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $2 "
    "AND decrypted_secret IS NOT NULL LIMIT 1)",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

KeptPlan installation_only_plan{
    "SELECT EXISTS (SELECT 1 FROM work_plane.installations WHERE workspace_slug = $1)", 1,
    {TEXTOID}, nullptr};

}  // namespace

InstallationSecret read_installation_secret_in_transaction(const std::string& slug,
                                                           const std::string& secret_name) {
  InstallationSecret out;
  bool has_vault = true;
  std::string role;
  try {
    pg_call([&]() noexcept {
      spi_connect();
      role = GetUserNameFromId(GetUserId(), false);
      bool isnull = false;
      if (!vault_seen) {
        exec_kept(has_vault_plan, nullptr, nullptr, true, SPI_OK_SELECT);
        has_vault = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
      }
      Datum values[2] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(secret_name.c_str())};
      if (has_vault) {
        vault_seen = true;
        exec_kept(installation_secret_plan, values, nullptr, true, SPI_OK_SELECT);
      } else {
        exec_kept(installation_only_plan, values, nullptr, true, SPI_OK_SELECT);
      }
      out.installed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
      if (has_vault) {
        char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
        if (value != nullptr) {
          const bool copied = cpp_try([&] { out.secret.assign(value); });
          explicit_bzero(value, strlen(value));
          pfree(value);
          if (!copied) raise_cpp_failure(true, "");
        }
      }
      SPI_finish();
    });
  } catch (const PgError& e) {
    vault_seen = false;  // dropped or re-created meanwhile: look again next time
    if (e.sqlerrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE) throw read_denied(role, names_list({secret_name}));
    throw;
  }
  if (!has_vault && out.installed) throw vault_missing(names_list({secret_name}));
  return out;
}

std::string read_vault_secret(const std::vector<std::string>& names) {
  return read_secret(names, /*own_transaction=*/true, /*required=*/true);
}

std::string read_vault_secret_in_transaction(const std::vector<std::string>& names, bool required) {
  return read_secret(names, /*own_transaction=*/false, required);
}

namespace {

KeptPlan find_secret_plan{"SELECT id FROM vault.secrets WHERE name = $1", 1, {TEXTOID}, nullptr};
KeptPlan update_secret_plan{"SELECT vault.update_secret($1, $2)", 2, {UUIDOID, TEXTOID}, nullptr};
KeptPlan create_secret_plan{"SELECT vault.create_secret($1, $2, $3)", 3, {TEXTOID, TEXTOID, TEXTOID},
                            nullptr};

// Wipes the bytes of a text Datum built from a secret before SPI frees it.
void wipe_text_datum(Datum d) noexcept {
  text* t = DatumGetTextPP(d);
  explicit_bzero(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

void upsert_secret(const char* name, const char* value, const char* description,
                   bool& has_vault) noexcept {
  exec_kept(has_vault_plan, nullptr, nullptr, true, SPI_OK_SELECT);
  bool isnull = false;
  has_vault = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  if (!has_vault) return;
  Datum name_datum = CStringGetTextDatum(name);
  exec_kept(find_secret_plan, &name_datum, nullptr, false, SPI_OK_SELECT);
  Datum secret = CStringGetTextDatum(value);
  if (SPI_processed > 0) {
    Datum values[2] = {SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), secret};
    exec_kept(update_secret_plan, values, nullptr, false, SPI_OK_SELECT);
  } else {
    Datum values[3] = {secret, name_datum, CStringGetTextDatum(description)};
    exec_kept(create_secret_plan, values, nullptr, false, SPI_OK_SELECT);
  }
  wipe_text_datum(secret);
}

}  // namespace

void store_vault_secret_in_transaction(const std::string& name, const std::string& value,
                                       const std::string& description) {
  bool has_vault = true;
  std::string role;
  try {
    pg_call([&]() noexcept {
      spi_connect();
      role = GetUserNameFromId(GetUserId(), false);
      upsert_secret(name.c_str(), value.c_str(), description.c_str(), has_vault);
      SPI_finish();
    });
  } catch (const PgError& e) {
    if (e.sqlerrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE) throw write_denied(role, name);
    throw;
  }
  if (!has_vault) throw vault_missing(names_list({name}));
}

}  // namespace plane::pg
