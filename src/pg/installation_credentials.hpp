// The credential of one installation, by its auth_mode, read from Vault at the moment of use and
// never cached (README, "Credentials"):
//   api_key  X-API-Key: plane_api_key:{slug}, else plane_api_key;
//   oauth    Authorization: Bearer, the user's access token plane_token:{slug}:{user_id}, renewed
//            with plane_refresh:{slug}:{user_id} (Plane rotates it: the new one is stored);
//   bot      Authorization: Bearer, the app installation's bot token plane_token:{slug}:bot,
//            requested again with client_credentials when it lapses.
// Tokens are renewed plane.oauth_refresh_margin before they expire (at most half their lifetime),
// and once more when Plane rejects one early. Renewal holds the tokens_ref row lock, so two
// processes never spend the same refresh token. When Plane refuses the grant, the installation is
// marked reauthorization_required (committed) and PlaneError(Auth) says what to run.
#pragma once

#include <string>
#include <vector>

#include "core/runtime.hpp"

namespace plane::pg {

enum class CredentialContext {
  // A background worker outside any transaction: each call runs its own; tokens are renewed.
  Worker,
  // A SQL function inside the caller's transaction: tokens are used while valid, never renewed
  // here (a rollback of the caller would lose a rotated refresh token that Plane already spent).
  Backend,
};

// The Vault names of a workspace's API key for requests to `url`: plane_api_key:{slug}, and the
// workspace-less plane_api_key only for Plane's default hosts (plane.api_url, plane.mcp_url), so that
// a key meant for Plane Cloud never goes to another server.
std::vector<std::string> api_key_names(const std::string& slug, const std::string& url);
bool uses_default_api_host(const std::string& url);

// Throws PlaneError(Config) unless `url` may receive credentials: its host is on plane.allowed_hosts
// and it is https (plain http only to loopback). `what` names the URL in the message.
void require_credential_url(const std::string& url, const char* what);

class InstallationCredentials final : public plane::CredentialSource {
 public:
  InstallationCredentials(std::string slug, std::string api_url, CredentialContext context)
      : slug_(std::move(slug)), api_url_(std::move(api_url)), context_(context) {}

  plane::Credential credential() override;
  bool refresh_after_rejection() override;

  // What the shared request budget is keyed by: the API key itself, or the OAuth grant (workspace
  // and user, or app installation), so that a rotated token keeps its budget. Digest it; never
  // show it.
  std::string budget_identity();

 private:
  plane::Credential obtain(bool force_renewal);

  std::string slug_;
  std::string api_url_;
  CredentialContext context_;
  std::string used_version_;  // tokens_ref.updated_at of the token last handed out
};

}  // namespace plane::pg
