// Where OAuth grants are kept: the tokens in Vault (plane_token:{slug}:{user_id},
// plane_refresh:{slug}:{user_id}, plane_token:{slug}:bot), their names and expiry in
// work_plane.tokens_ref, the outcome in ops.run_events (never a token). Every function runs in
// the caller's transaction.
#pragma once

#include <string>

#include "core/oauth.hpp"

namespace plane::pg {

// Stores a user grant (access token, and the refresh token when Plane sent one) for user_id.
void store_user_grant(const std::string& slug, const std::string& user_id,
                      const plane::OAuthTokens& tokens);

// Stores a bot token of the workspace's app installation.
void store_bot_grant(const std::string& slug, const plane::OAuthTokens& tokens);

// Renews the installation's token at Plane's token endpoint: refresh_token for mode "oauth",
// client_credentials for mode "bot", with the client id and secret from Vault; stores the answer.
// Throws what the core OAuth client throws (Auth when Plane refuses the grant).
void renew_tokens(const std::string& slug, const std::string& api_url, const std::string& mode,
                  const std::string& user_id, const std::string& app_installation_id,
                  const std::string& scopes);

// Records that Plane refused to renew: sync_status shows it, and no request is made until the
// OAuth flow is completed again.
void mark_reauthorization_required(const std::string& slug, const std::string& message,
                                   long plane_status);

// The OAuth client id and secret (plane_oauth_client_id, plane_oauth_client_secret).
std::string oauth_client_id();
std::string oauth_client_secret();

// One ops.run_events row (source 'plane') about an OAuth step; `details_json` holds no secret.
void audit_oauth(const std::string& slug, const std::string& action, long plane_status,
                 const std::string& details_json);

}  // namespace plane::pg
