#include "pg/installation_credentials.hpp"

#include <limits>

#include "core/errors.hpp"
#include "core/hosts.hpp"
#include "core/http.hpp"
#include "core/oauth.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/latch_waiter.hpp"
#include "pg/oauth_store.hpp"
#include "pg/spi_plan.hpp"
#include "pg/vault.hpp"

namespace plane::pg {

namespace {

struct AuthInfo {
  bool found = false;
  std::string mode;
  std::string status;
  std::string error;
  std::string user_id;
  std::string app_installation_id;
  std::string scopes;
};

struct TokenRow {
  bool found = false;
  std::string secret_name;
  double seconds_left = std::numeric_limits<double>::infinity();  // NULL expiry: Plane did not say
  double lifetime = std::numeric_limits<double>::infinity();
  std::string version;  // updated_at: changes whenever the token is renewed
};

KeptPlan auth_plan{
    "SELECT auth_mode, auth_status, coalesce(auth_error, ''), coalesce(oauth_user_id, ''), "
    "coalesce(app_installation_id, ''), coalesce(oauth_scopes, '') "
    "FROM work_plane.installations WHERE workspace_slug = $1",
    1,
    {TEXTOID},
    nullptr};

const char* const kTokenSql =
    "SELECT vault_secret_name, extract(epoch FROM expires_at - clock_timestamp())::float8, "
    "extract(epoch FROM expires_at - updated_at)::float8, updated_at::text "
    "FROM work_plane.tokens_ref WHERE workspace_slug = $1 AND kind = $2 AND user_id = $3";
KeptPlan token_plan{kTokenSql, 3, {TEXTOID, TEXTOID, TEXTOID}, nullptr};
const std::string kTokenLockSql = std::string(kTokenSql) + " FOR UPDATE";
KeptPlan token_lock_plan{kTokenLockSql.c_str(), 3, {TEXTOID, TEXTOID, TEXTOID}, nullptr};

// A column of the first result row as text. C-level (inside pg_call): the copy is a cpp_step.
std::string column_text(int col) noexcept {
  char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
  std::string out;
  if (v != nullptr) {
    plane::pg::cpp_step([&] { out = v; });
    pfree(v);
  }
  return out;
}

AuthInfo load_auth(const std::string& slug) {
  AuthInfo out;
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    exec_kept(auth_plan, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      out.found = true;
      out.mode = column_text(1);
      out.status = column_text(2);
      out.error = column_text(3);
      out.user_id = column_text(4);
      out.app_installation_id = column_text(5);
      out.scopes = column_text(6);
    }
    SPI_finish();
  });
  if (!out.found) throw PlaneError(ErrorKind::Config, "unknown Plane workspace: " + slug);
  return out;
}

TokenRow load_token(const std::string& slug, const char* kind, const std::string& user,
                    bool lock) {
  TokenRow out;
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[3] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(kind),
                       CStringGetTextDatum(user.c_str())};
    exec_kept(lock ? token_lock_plan : token_plan, values, nullptr, /*read_only=*/!lock,
              SPI_OK_SELECT);
    if (SPI_processed > 0) {
      bool isnull = false;
      out.found = true;
      out.secret_name = column_text(1);
      Datum left = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
      if (!isnull) out.seconds_left = DatumGetFloat8(left);
      Datum life = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
      if (!isnull) out.lifetime = DatumGetFloat8(life);
      out.version = column_text(4);
    }
    SPI_finish();
  });
  return out;
}

bool needs_renewal(const TokenRow& row) {
  const double margin = std::min<double>(settings.oauth_refresh_margin_s, row.lifetime / 2);
  return row.seconds_left <= margin;
}

const char* token_kind(const AuthInfo& auth) { return auth.mode == "bot" ? "bot_token" : "access_token"; }
std::string token_user(const AuthInfo& auth) { return auth.mode == "bot" ? "bot" : auth.user_id; }

std::string reauthorize_hint(const std::string& slug) {
  return "run SELECT work_plane.oauth_authorize_url('" + slug +
         "', '<redirect_uri>') and complete the flow with work_plane.oauth_callback";
}

// Whether an error from the token endpoint means Plane will not renew this grant (as opposed to
// a passing failure worth trying again later).
bool grant_refused(const PlaneError& e) {
  if (e.kind() == ErrorKind::Auth) return true;
  const long s = e.http_status();
  return e.kind() == ErrorKind::Http && s >= 400 && s < 500 && s != 408 && s != 429;
}

}  // namespace

bool uses_default_api_host(const std::string& url) {
  return plane::same_origin(url, settings.api_url != nullptr ? settings.api_url : "") ||
         plane::same_origin(url, settings.mcp_url != nullptr ? settings.mcp_url : "");
}

void require_credential_url(const std::string& url, const char* what) {
  const std::string problem = plane::credential_url_problem(
      url, plane::parse_host_list(settings.allowed_hosts != nullptr ? settings.allowed_hosts : ""),
      "plane.allowed_hosts");
  if (!problem.empty()) throw PlaneError(ErrorKind::Config, std::string(what) + " refused: " + problem);
}

std::vector<std::string> api_key_names(const std::string& slug, const std::string& url) {
  std::vector<std::string> names{"plane_api_key:" + slug};
  if (uses_default_api_host(url)) names.push_back("plane_api_key");
  return names;
}

plane::Credential InstallationCredentials::credential() { return obtain(false); }

bool InstallationCredentials::refresh_after_rejection() {
  if (context_ != CredentialContext::Worker) return false;
  std::string mode;
  with_transaction([&] { mode = load_auth(slug_).mode; });
  if (mode == "api_key") return false;
  (void)obtain(true);  // renews, or throws Auth when Plane refuses
  return true;
}

std::string InstallationCredentials::budget_identity() {
  auto identity = [&]() -> std::string {
    const AuthInfo auth = load_auth(slug_);
    if (auth.mode == "oauth") return "oauth:" + slug_ + ":" + auth.user_id;
    if (auth.mode == "bot") return "bot:" + slug_ + ":" + auth.app_installation_id;
    return read_vault_secret_in_transaction(api_key_names(slug_, api_url_), true);
  };
  if (context_ == CredentialContext::Worker) return with_transaction(identity);
  return identity();
}

plane::Credential InstallationCredentials::obtain(bool force_renewal) {
  std::string header;
  std::string value;
  std::string refused;  // set when Plane refused to renew: committed, then thrown
  auto body = [&] {
    const AuthInfo auth = load_auth(slug_);
    if (auth.mode == "api_key") {
      header = "X-API-Key";
      value = read_vault_secret_in_transaction(api_key_names(slug_, api_url_), true);
      return;
    }
    if (auth.status != "ok") {
      throw PlaneError(ErrorKind::Auth, "Plane workspace \"" + slug_ +
                                            "\" needs re-authorisation (" + auth.error + "): " +
                                            reauthorize_hint(slug_));
    }
    const char* kind = token_kind(auth);
    const std::string user = token_user(auth);
    TokenRow row = load_token(slug_, kind, user, false);
    if (!row.found) {
      throw PlaneError(ErrorKind::Config, "Plane workspace \"" + slug_ + "\" uses " + auth.mode +
                                              " credentials but work_plane.tokens_ref has no " +
                                              kind + ": " + reauthorize_hint(slug_));
    }
    const bool rejected = force_renewal && row.version == used_version_;
    if (context_ == CredentialContext::Backend) {
      if (row.seconds_left <= 0) {
        throw PlaneError(ErrorKind::Config,
                         "the " + auth.mode + " token of Plane workspace \"" + slug_ +
                             "\" has expired; the sync worker renews it: run SELECT "
                             "work_plane.sync_now('" + slug_ + "') and try again");
      }
    } else if (rejected || needs_renewal(row)) {
      // Take the row lock and look again: another process may have renewed it meanwhile.
      row = load_token(slug_, kind, user, true);
      const bool still_rejected = force_renewal && row.version == used_version_;
      if (row.found && (still_rejected || needs_renewal(row))) {
        try {
          renew_tokens(slug_, api_url_, auth.mode, auth.user_id, auth.app_installation_id,
                       auth.scopes);
        } catch (const PlaneError& e) {
          if (grant_refused(e)) {
            refused = "Plane refused to renew the " + auth.mode + " token of workspace \"" +
                      slug_ + "\" (" + e.what() + ")";
            mark_reauthorization_required(slug_, refused, e.http_status());
            return;  // commit the status, then throw below
          }
          // A passing failure (5xx, timeout, 429): a token that has not expired yet still serves.
          if (still_rejected || row.seconds_left <= 0) throw;
        }
        row = load_token(slug_, kind, user, false);
      }
    }
    header = "Authorization";
    value = "Bearer " + read_vault_secret_in_transaction({row.secret_name}, true);
    used_version_ = row.version;
  };
  if (context_ == CredentialContext::Worker) {
    with_transaction(body);
  } else {
    body();
  }
  if (!refused.empty()) {
    throw PlaneError(ErrorKind::Auth, refused + ": the installation needs re-authorisation; " +
                                          reauthorize_hint(slug_));
  }
  plane::Credential out(std::move(header), std::move(value));
  secure_wipe(value);
  return out;
}

}  // namespace plane::pg
