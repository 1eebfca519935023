// OAuth2 for Plane apps: the authorize URL, the token endpoint's three grants
// (authorization_code, refresh_token, client_credentials for bot tokens) and workspace discovery
// from an app installation. Plain C++; every request goes through HttpTransport.
//
// Secrets (client secret, authorization code, access/refresh/bot tokens) never appear in an
// error message: messages name the grant and Plane's OAuth error code, never a submitted value.
// None of these calls retries: a refresh token is rotated on use (the old one stops working), so
// blindly repeating a refresh whose answer was lost would only earn `invalid_grant`. Callers decide.
#pragma once

#include <string>

#include "core/http.hpp"

namespace plane {

// The token endpoint's answer. Tokens are wiped from memory when the object is destroyed; it can be
// moved but not copied, so no stray copy outlives it.
struct OAuthTokens {
  std::string access_token;
  std::string refresh_token;  // empty for bot tokens (client_credentials issues none)
  std::string token_type;     // "Bearer" (the default when Plane omits it)
  std::string scope;          // space-separated, as granted
  long expires_in = 0;        // seconds; 0 when Plane did not say

  OAuthTokens() = default;
  OAuthTokens(const OAuthTokens&) = delete;
  OAuthTokens& operator=(const OAuthTokens&) = delete;
  OAuthTokens(OAuthTokens&&) = default;
  OAuthTokens& operator=(OAuthTokens&&) = default;
  ~OAuthTokens();
};

// {base_url}/auth/o/authorize-app/?client_id=..&response_type=code&redirect_uri=..&state=..&scope=..
// with every value percent-encoded. `scopes` is space-separated ("projects:read wiki.pages:read");
// empty `scopes` or `state` leave that parameter out. Throws PlaneError(Config) for a base URL that
// is not http(s) or an empty client id / redirect URI.
std::string oauth_authorize_url(const std::string& base_url, const std::string& client_id,
                                const std::string& redirect_uri, const std::string& scopes,
                                const std::string& state);

// POST {base}/auth/o/token/ (application/x-www-form-urlencoded), grant_type=authorization_code.
// Errors: 400/401 {"error":"invalid_grant"} → Auth ("refused the grant"); other 401/403 → Auth;
// 429 → RateLimited; 5xx → ServerError; other statuses → Http; a body that is not a token
// object (or nests deeper than 256 levels) → Parse; transport failures propagate from the
// transport (Transport/Timeout/Cancelled).
OAuthTokens exchange_code(HttpTransport& transport, const std::string& base_url,
                          const std::string& client_id, const std::string& client_secret,
                          const std::string& code, const std::string& redirect_uri);

// grant_type=refresh_token. Plane rotates refresh tokens: store the returned refresh_token, the old
// one is spent. (If Plane returned none, the old one is still the one to keep; the result then
// carries an empty refresh_token.) Errors as for exchange_code.
OAuthTokens refresh_tokens(HttpTransport& transport, const std::string& base_url,
                           const std::string& client_id, const std::string& client_secret,
                           const std::string& refresh_token);

// grant_type=client_credentials&app_installation_id=..&scope=.. with
// `Authorization: Basic base64(client_id:client_secret)`: a bot token (no refresh token; ask again
// when it expires). Empty `scope` leaves the parameter out. Errors as for exchange_code.
OAuthTokens bot_token(HttpTransport& transport, const std::string& base_url,
                      const std::string& client_id, const std::string& client_secret,
                      const std::string& app_installation_id, const std::string& scope);

// GET {base}/auth/o/app-installation/?id=<installation_id> with `Authorization: Bearer <bearer>`
// (`bearer` is the bare token; a value already starting with "Bearer " is sent as is). Returns the
// installation's workspace_detail.slug. The answer is an array; the entry whose id matches is used
// (else the first). Errors: empty array → Http (no such installation); 401/403 → Auth; 5xx →
// ServerError; missing slug or non-JSON → Parse.
std::string app_installation_workspace(HttpTransport& transport, const std::string& base_url,
                                       const std::string& bearer,
                                       const std::string& installation_id);

// GET {base}/api/v1/users/me/ with `Authorization: Bearer <bearer>`: the id of the Plane user a
// user token acts for (tokens_ref and the Vault names are keyed by it). Errors as for
// app_installation_workspace; a body without a string "id" → Parse.
std::string oauth_token_user(HttpTransport& transport, const std::string& base_url,
                             const std::string& bearer);

// 32 bytes from OpenSSL's RAND_bytes as 64 lowercase hex characters (URL-safe as is), for the
// `state` parameter. Throws PlaneError(Internal) if the CSPRNG fails.
std::string random_state_token();

}  // namespace plane
