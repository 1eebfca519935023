#include "pg/oauth_store.hpp"

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/installation_credentials.hpp"
#include "pg/latch_waiter.hpp"
#include "pg/spi_plan.hpp"
#include "pg/vault.hpp"

namespace plane::pg {

namespace {

KeptPlan upsert_ref_plan{
    "INSERT INTO work_plane.tokens_ref AS t (workspace_slug, user_id, kind, vault_secret_name, "
    "  expires_at, updated_at) "
    "VALUES ($1, $2, $3, $4, CASE WHEN $5 > 0 THEN clock_timestamp() + make_interval(secs => $5) END, "
    "  clock_timestamp()) "
    "ON CONFLICT (workspace_slug, user_id, kind) DO UPDATE SET vault_secret_name = excluded.vault_secret_name, "
    "  expires_at = excluded.expires_at, updated_at = excluded.updated_at",
    5,
    {TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID},
    nullptr};

KeptPlan reauth_plan{
    "UPDATE work_plane.installations SET auth_status = 'reauthorization_required', auth_error = $2, "
    "updated_at = now() WHERE workspace_slug = $1",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

KeptPlan audit_plan{
    "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
    "VALUES ('plane', $1, $2, nullif($3, 0), $4::jsonb)",
    4,
    {TEXTOID, TEXTOID, INT4OID, TEXTOID},
    nullptr};

void upsert_ref(const std::string& slug, const std::string& user, const char* kind,
                const std::string& name, long expires_in) {
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[5] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(user.c_str()),
                       CStringGetTextDatum(kind), CStringGetTextDatum(name.c_str()),
                       Float8GetDatum(static_cast<double>(expires_in))};
    exec_kept(upsert_ref_plan, values, nullptr, false, SPI_OK_INSERT);
    SPI_finish();
  });
}

std::string description(const std::string& what, const std::string& slug) {
  return "plane_connector: " + what + " of Plane workspace " + slug;
}

}  // namespace

void store_user_grant(const std::string& slug, const std::string& user_id,
                      const plane::OAuthTokens& tokens) {
  const std::string access_name = "plane_token:" + slug + ":" + user_id;
  store_vault_secret_in_transaction(access_name, tokens.access_token,
                                    description("OAuth access token", slug));
  upsert_ref(slug, user_id, "access_token", access_name, tokens.expires_in);
  // Plane rotates refresh tokens; when it sends none, the one stored is still the one to use.
  if (!tokens.refresh_token.empty()) {
    const std::string refresh_name = "plane_refresh:" + slug + ":" + user_id;
    store_vault_secret_in_transaction(refresh_name, tokens.refresh_token,
                                      description("OAuth refresh token", slug));
    upsert_ref(slug, user_id, "refresh_token", refresh_name, 0);
  }
}

void store_bot_grant(const std::string& slug, const plane::OAuthTokens& tokens) {
  const std::string name = "plane_token:" + slug + ":bot";
  store_vault_secret_in_transaction(name, tokens.access_token, description("bot token", slug));
  upsert_ref(slug, "bot", "bot_token", name, tokens.expires_in);
}

std::string oauth_client_id() {
  return read_vault_secret_in_transaction({"plane_oauth_client_id"}, true);
}

std::string oauth_client_secret() {
  return read_vault_secret_in_transaction({"plane_oauth_client_secret"}, true);
}

namespace {

// A secret held for one call and wiped when it goes out of scope, however the call ends.
struct WipedString {
  std::string value;
  WipedString(std::string v) : value(std::move(v)) {}
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { secure_wipe(value); }
};

}  // namespace

void renew_tokens(const std::string& slug, const std::string& api_url_in, const std::string& mode,
                  const std::string& user_id, const std::string& app_installation_id,
                  const std::string& scopes) {
  // The client secret and the refresh token go there: only to an allowed host.
  const std::string api_url =
      api_url_in.empty() ? std::string(settings.api_url != nullptr ? settings.api_url : "") : api_url_in;
  require_credential_url(api_url, "Plane API URL");
  const WipedString client_id(oauth_client_id());
  const WipedString client_secret(oauth_client_secret());
  LatchWaiter waiter;
  plane::CurlTransport transport([&waiter] { return waiter.cancelled(); });
  if (mode == "bot") {
    const plane::OAuthTokens tokens = plane::bot_token(transport, api_url, client_id.value,
                                                       client_secret.value, app_installation_id, scopes);
    store_bot_grant(slug, tokens);
    audit_oauth(slug, "oauth_bot_token", 200, nlohmann::json({{"expires_in", tokens.expires_in}}).dump());
    return;
  }
  const WipedString refresh(
      read_vault_secret_in_transaction({"plane_refresh:" + slug + ":" + user_id}, true));
  const plane::OAuthTokens tokens = plane::refresh_tokens(transport, api_url, client_id.value,
                                                          client_secret.value, refresh.value);
  store_user_grant(slug, user_id, tokens);
  audit_oauth(slug, "oauth_refresh", 200,
              nlohmann::json({{"user_id", user_id},
                              {"expires_in", tokens.expires_in},
                              {"refresh_token_rotated", !tokens.refresh_token.empty()}})
                  .dump());
}

void mark_reauthorization_required(const std::string& slug, const std::string& message,
                                   long plane_status) {
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[2] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(message.c_str())};
    exec_kept(reauth_plan, values, nullptr, false, SPI_OK_UPDATE);
    SPI_finish();
  });
  audit_oauth(slug, "oauth_reauthorization_required", plane_status,
              nlohmann::json({{"error", message}}).dump());
}

void audit_oauth(const std::string& slug, const std::string& action, long plane_status,
                 const std::string& details_json) {
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[4] = {CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(action.c_str()),
                       Int32GetDatum(static_cast<int32>(plane_status)),
                       CStringGetTextDatum(details_json.c_str())};
    exec_kept(audit_plan, values, nullptr, false, SPI_OK_INSERT);
    SPI_finish();
  });
}

}  // namespace plane::pg
