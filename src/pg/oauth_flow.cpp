// work_plane.oauth_authorize_url and work_plane.oauth_callback: the OAuth2 install flow of a Plane
// app. The state handed out is 32 random bytes; only its SHA-256 is stored,
// bound to the workspace and redirect URI, single use and expiring (CSRF). The callback spends it,
// exchanges the code with the client secret from Vault, learns whose token it is (users/me) and,
// for an app installation, gets a bot token and checks the installation's workspace is the one the
// state was issued for. Tokens go to Vault; tokens_ref keeps their names and expiry.
#include <regex>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/digest.hpp"
#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/oauth.hpp"
#include "core/workspace_slug.hpp"
#include "pg/boundary.hpp"
#include "pg/installation_credentials.hpp"
#include "pg/jsonb_bridge.hpp"
#include "pg/gucs.hpp"
#include "pg/latch_waiter.hpp"
#include "pg/oauth_store.hpp"
#include "pg/spi_plan.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace {

using plane::ErrorKind;
using plane::PlaneError;
using plane::pg::exec_kept;
using plane::pg::KeptPlan;
using plane::pg::pg_call;

std::string text_arg(FunctionCallInfo fcinfo, int n, const char* name) {
  if (PG_ARGISNULL(n)) throw PlaneError(ErrorKind::Config, std::string(name) + " is required");
  text* t = PG_GETARG_TEXT_PP(n);
  return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

bool valid_redirect_uri(const std::string& s) {
  static const std::regex re("^https?://[^[:space:]/?#@]+(/[^[:space:]#]*)?$");
  return s.size() <= 2048 && std::regex_match(s, re);
}

bool valid_scopes(const std::string& s) {
  static const std::regex re("^[A-Za-z0-9_.:-]+( [A-Za-z0-9_.:-]+)*$");
  return s.size() <= 2048 && std::regex_match(s, re);
}

bool valid_plane_id(const std::string& s) {
  static const std::regex re("^[A-Za-z0-9_-]{1,64}$");
  return std::regex_match(s, re);
}

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

KeptPlan api_url_plan{
    "SELECT coalesce(api_url, '') FROM work_plane.installations WHERE workspace_slug = $1", 1,
    {TEXTOID}, nullptr};

// The installation's API base URL (its own, else plane.api_url); throws for an unknown workspace.
std::string installation_api_url(const std::string& slug) {
  bool found = false;
  std::string url;
  pg_call([&]() noexcept {
    plane::pg::spi_connect();
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    exec_kept(api_url_plan, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      found = true;
      url = column_text(1);
    }
    SPI_finish();
  });
  if (!found) {
    throw PlaneError(ErrorKind::Config, "unknown Plane workspace \"" + slug +
                                            "\": register it first with SELECT "
                                            "work_plane.add_installation('" + slug + "')");
  }
  if (url.empty()) url = plane::pg::settings.api_url != nullptr ? plane::pg::settings.api_url : "";
  // The client secret, the code and the tokens go there.
  plane::pg::require_credential_url(url, "Plane API URL");
  return url;
}

KeptPlan insert_state_plan{
    "WITH old AS (DELETE FROM work_plane.oauth_states WHERE expires_at < now() - interval '1 day') "
    "INSERT INTO work_plane.oauth_states (state_sha256, workspace_slug, redirect_uri, scopes, expires_at) "
    "VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))",
    5,
    {TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID},
    nullptr};

struct PendingState {
  bool found = false;
  bool used = false;
  bool expired = false;
  std::string slug;
  std::string redirect_uri;
  std::string scopes;
};

KeptPlan spend_state_plan{
    "WITH s AS (SELECT state_sha256, workspace_slug, redirect_uri, scopes, used_at IS NOT NULL AS used, "
    "  expires_at <= clock_timestamp() AS expired FROM work_plane.oauth_states "
    "  WHERE state_sha256 = $1 FOR UPDATE), "
    "u AS (UPDATE work_plane.oauth_states o SET used_at = clock_timestamp() FROM s "
    "  WHERE o.state_sha256 = s.state_sha256 AND NOT s.used AND NOT s.expired) "
    "SELECT workspace_slug, redirect_uri, scopes, used, expired FROM s",
    1,
    {TEXTOID},
    nullptr};

// Plane's redirect after installing an app may carry only code and app_installation_id, without
// the state: the installation's workspace is asked of Plane (with a bot token of the installation,
// which needs no code), and the latest authorisation this database started for that workspace,
// unused and unexpired, is the one completed. Without such a pending authorisation nothing happens.
KeptPlan spend_latest_state_plan{
    "UPDATE work_plane.oauth_states o SET used_at = clock_timestamp() "
    "WHERE o.state_sha256 = (SELECT s.state_sha256 FROM work_plane.oauth_states s "
    "  WHERE s.workspace_slug = $1 AND s.used_at IS NULL AND s.expires_at > clock_timestamp() "
    "  ORDER BY s.created_at DESC LIMIT 1 FOR UPDATE) "
    "RETURNING o.workspace_slug, o.redirect_uri, o.scopes",
    1,
    {TEXTOID},
    nullptr};

PendingState spend_latest_state(const std::string& slug) {
  PendingState out;
  pg_call([&]() noexcept {
    plane::pg::spi_connect();
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    exec_kept(spend_latest_state_plan, values, nullptr, false, SPI_OK_UPDATE_RETURNING);
    if (SPI_processed > 0) {
      out.found = true;
      out.slug = column_text(1);
      out.redirect_uri = column_text(2);
      out.scopes = column_text(3);
    }
    SPI_finish();
  });
  return out;
}

PendingState spend_state(const std::string& state) {
  PendingState out;
  const std::string digest = plane::sha256_hex(state);
  pg_call([&]() noexcept {
    plane::pg::spi_connect();
    Datum values[1] = {CStringGetTextDatum(digest.c_str())};
    exec_kept(spend_state_plan, values, nullptr, false, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      bool isnull = false;
      out.found = true;
      out.slug = column_text(1);
      out.redirect_uri = column_text(2);
      out.scopes = column_text(3);
      out.used = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
      out.expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
    }
    SPI_finish();
  });
  return out;
}

KeptPlan switch_mode_plan{
    "UPDATE work_plane.installations SET auth_mode = $2, oauth_user_id = $3, "
    "app_installation_id = nullif($4, ''), oauth_scopes = $5, auth_status = 'ok', auth_error = NULL, "
    "updated_at = now() WHERE workspace_slug = $1",
    5,
    {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
    nullptr};

void switch_auth_mode(const std::string& slug, const std::string& mode, const std::string& user,
                      const std::string& installation, const std::string& scopes) {
  pg_call([&]() noexcept {
    plane::pg::spi_connect();
    Datum values[5] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(mode.c_str()),
                       CStringGetTextDatum(user.c_str()), CStringGetTextDatum(installation.c_str()),
                       CStringGetTextDatum(scopes.c_str())};
    exec_kept(switch_mode_plan, values, nullptr, false, SPI_OK_UPDATE);
    SPI_finish();
  });
}

KeptPlan pending_api_urls_plan{
    "SELECT DISTINCT coalesce(i.api_url, '') FROM work_plane.oauth_states s "
    "JOIN work_plane.installations i USING (workspace_slug) "
    "WHERE s.used_at IS NULL AND s.expires_at > clock_timestamp()",
    0,
    {},
    nullptr};

// The Plane server of the authorisations this database has pending (the one a redirect without
// state can come from); an error when there is none, or several servers are possible.
std::string installation_api_url_default() {
  std::vector<std::string> urls;
  pg_call([&]() noexcept {
    plane::pg::spi_connect();
    exec_kept(pending_api_urls_plan, nullptr, nullptr, true, SPI_OK_SELECT);
    for (uint64 i = 0; i < SPI_processed; ++i) {
      char* v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
      plane::pg::cpp_step([&] { urls.emplace_back(v != nullptr ? v : ""); });
    }
    SPI_finish();
  });
  if (urls.empty()) {
    throw PlaneError(ErrorKind::Config, "no pending authorisation: start one with "
                                        "work_plane.oauth_authorize_url('<slug>', '<redirect_uri>')");
  }
  if (urls.size() > 1) {
    throw PlaneError(ErrorKind::Config, "authorisations are pending on several Plane servers: complete "
                                        "this one with its state");
  }
  std::string url = urls.front();
  if (url.empty()) url = plane::pg::settings.api_url != nullptr ? plane::pg::settings.api_url : "";
  plane::pg::require_credential_url(url, "Plane API URL");
  return url;
}

// The workspace of an app installation, asked of Plane with a bot token of the installation (the
// client credentials grant needs no code). Installed workspaces only: the slug must be registered.
std::string installation_workspace_without_state(const std::string& installation) {
  const std::string api_url = installation_api_url_default();
  std::string client_id = plane::pg::oauth_client_id();
  std::string client_secret = plane::pg::oauth_client_secret();
  struct Wipe {
    std::string* a;
    std::string* b;
    ~Wipe() { plane::secure_wipe(*a); plane::secure_wipe(*b); }
  } wipe{&client_id, &client_secret};
  plane::pg::LatchWaiter waiter;
  plane::CurlTransport transport([&waiter] { return waiter.cancelled(); });
  const plane::OAuthTokens bot = plane::bot_token(transport, api_url, client_id, client_secret, installation, "");
  const std::string slug = plane::app_installation_workspace(transport, api_url, bot.access_token, installation);
  if (!plane::valid_workspace_slug(slug)) throw PlaneError(ErrorKind::Parse, "Plane's workspace slug is not a slug");
  return slug;
}

}  // namespace

// work_plane.oauth_authorize_url(workspace_slug text, redirect_uri text, scopes text) → text
PLANE_SQL_FUNCTION(plane_oauth_authorize_url) {
  const std::string slug = text_arg(fcinfo, 0, "workspace_slug");
  const std::string redirect_uri = text_arg(fcinfo, 1, "redirect_uri");
  const std::string scopes = text_arg(fcinfo, 2, "scopes");
  if (!plane::valid_workspace_slug(slug)) {
    throw PlaneError(ErrorKind::Config, "workspace_slug is not a Plane workspace slug "
                                        "(letters, digits, '-' and '_', at most 48)");
  }
  if (!valid_redirect_uri(redirect_uri)) {
    throw PlaneError(ErrorKind::Config, "redirect_uri must be an http(s) URL without spaces, "
                                        "credentials or fragment");
  }
  if (!valid_scopes(scopes)) {
    throw PlaneError(ErrorKind::Config, "scopes must be space-separated Plane scopes such as "
                                        "'projects:read projects.work_items:read'");
  }
  const std::string api_url = installation_api_url(slug);
  std::string client_id = plane::pg::oauth_client_id();
  const std::string state = plane::random_state_token();
  const std::string digest = plane::sha256_hex(state);
  pg_call([&]() noexcept {
    plane::pg::spi_connect();
    Datum values[5] = {CStringGetTextDatum(digest.c_str()), CStringGetTextDatum(slug.c_str()),
                       CStringGetTextDatum(redirect_uri.c_str()), CStringGetTextDatum(scopes.c_str()),
                       Float8GetDatum(static_cast<double>(plane::pg::settings.oauth_state_ttl_s))};
    exec_kept(insert_state_plan, values, nullptr, false, SPI_OK_INSERT);
    SPI_finish();
  });
  const std::string url = plane::oauth_authorize_url(api_url, client_id, redirect_uri, scopes, state);
  plane::secure_wipe(client_id);
  PG_RETURN_TEXT_P(cstring_to_text_with_len(url.data(), static_cast<int>(url.size())));
}

// work_plane.oauth_callback(code text, state text, app_installation_id text) → jsonb
PLANE_SQL_FUNCTION(plane_oauth_callback) {
  std::string code = text_arg(fcinfo, 0, "code");
  const std::string state = PG_ARGISNULL(1) ? std::string() : text_arg(fcinfo, 1, "state");
  const std::string installation = PG_ARGISNULL(2) ? std::string() : text_arg(fcinfo, 2, "app_installation_id");
  if (!installation.empty() && !valid_plane_id(installation)) {
    throw PlaneError(ErrorKind::Config, "app_installation_id is not a Plane id");
  }
  if (state.empty() && installation.empty()) {
    throw PlaneError(ErrorKind::Config, "state is required (only an app installation's redirect may "
                                        "come without one, with app_installation_id)");
  }
  PendingState pending;
  if (state.empty()) {
    const std::string slug = installation_workspace_without_state(installation);
    pending = spend_latest_state(slug);
    if (!pending.found) {
      throw PlaneError(ErrorKind::Config,
                       "no pending authorisation for Plane workspace \"" + slug +
                           "\" (the app installation's workspace): start one with "
                           "work_plane.oauth_authorize_url('" + slug + "', ...) and complete it within "
                           "plane.oauth_state_ttl");
    }
  } else {
    pending = spend_state(state);
  }
  if (!pending.found) {
    throw PlaneError(ErrorKind::Config, "unknown OAuth state: it was not issued by "
                                        "work_plane.oauth_authorize_url in this database");
  }
  if (pending.used) {
    throw PlaneError(ErrorKind::Config, "this OAuth state was already used: start again with "
                                        "work_plane.oauth_authorize_url('" + pending.slug + "', ...)");
  }
  if (pending.expired) {
    throw PlaneError(ErrorKind::Config, "this OAuth state has expired (plane.oauth_state_ttl): "
                                        "start again with work_plane.oauth_authorize_url('" +
                                            pending.slug + "', ...)");
  }
  const std::string& slug = pending.slug;
  const std::string api_url = installation_api_url(slug);
  std::string client_id = plane::pg::oauth_client_id();
  std::string client_secret = plane::pg::oauth_client_secret();
  plane::pg::LatchWaiter waiter;
  plane::CurlTransport transport([&waiter] { return waiter.cancelled(); });
  struct Wipe {
    std::string* a;
    std::string* b;
    std::string* c;
    ~Wipe() { plane::secure_wipe(*a); plane::secure_wipe(*b); plane::secure_wipe(*c); }
  } wipe{&code, &client_id, &client_secret};

  const plane::OAuthTokens user_tokens =
      plane::exchange_code(transport, api_url, client_id, client_secret, code, pending.redirect_uri);
  const std::string user_id = plane::oauth_token_user(transport, api_url, user_tokens.access_token);
  if (!valid_plane_id(user_id)) throw PlaneError(ErrorKind::Parse, "Plane's user id is not an id");

  nlohmann::json result = {{"workspace_slug", slug}, {"user_id", user_id},
                           {"scopes", user_tokens.scope.empty() ? pending.scopes : user_tokens.scope},
                           {"expires_in", user_tokens.expires_in}};
  std::string mode = "oauth";
  if (!installation.empty()) {
    const plane::OAuthTokens bot = plane::bot_token(transport, api_url, client_id, client_secret,
                                                    installation, pending.scopes);
    const std::string installed_in =
        plane::app_installation_workspace(transport, api_url, bot.access_token, installation);
    if (installed_in != slug) {
      throw PlaneError(ErrorKind::Config, "the app was installed in Plane workspace \"" +
                                              installed_in + "\" but this authorisation was started "
                                              "for \"" + slug + "\": nothing was stored");
    }
    plane::pg::store_bot_grant(slug, bot);
    mode = "bot";
    result["app_installation_id"] = installation;
    result["bot_expires_in"] = bot.expires_in;
  }
  plane::pg::store_user_grant(slug, user_id, user_tokens);
  switch_auth_mode(slug, mode, user_id, installation, pending.scopes);
  result["auth_mode"] = mode;
  plane::pg::audit_oauth(slug, "oauth_callback", 200, result.dump());
  PG_RETURN_DATUM(plane::pg::jsonb_datum(result));
}
