#include "pg/mcp_call.hpp"

#include "core/errors.hpp"
#include "core/hosts.hpp"
#include "core/mcp.hpp"
#include "core/runtime.hpp"
#include "pg/audit_outbox.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/installation_credentials.hpp"
#include "pg/latch_waiter.hpp"
#include "pg/spi_plan.hpp"
#include "pg/vault.hpp"

namespace plane::pg {

namespace {

constexpr const char* kSource = "plane_mcp";

struct McpInstallation {
  bool found = false;
  bool writeback_enabled = false;
  std::string url;
  std::string auth_mode;
};

KeptPlan installation_plan{
    "SELECT writeback_policy = 'enabled', coalesce(mcp_url, ''), auth_mode "
    "FROM work_plane.installations WHERE workspace_slug = $1",
    1,
    {TEXTOID},
    nullptr};

McpInstallation load_installation(const std::string& slug) {
  McpInstallation out;
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    exec_kept(installation_plan, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      bool isnull = false;
      out.found = true;
      out.writeback_enabled = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
      char* url = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
      char* mode = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
      cpp_step([&] {
        out.url = url != nullptr ? url : "";
        out.auth_mode = mode != nullptr ? mode : "api_key";
      });
    }
    SPI_finish();
  });
  if (!out.found) throw PlaneError(ErrorKind::Config, "unknown Plane workspace: " + slug);
  if (out.url.empty()) out.url = settings.mcp_url != nullptr ? settings.mcp_url : "";
  return out;
}

// A session with the workspace's API key (read from Vault now, wiped with the client), ended when
// it goes: Plane's streamable-HTTP servers keep a session per initialize until it is deleted.
struct Session {
  LatchWaiter waiter;
  CurlTransport transport;
  McpClient client;
  Session(const std::string& url, const std::string& slug, std::string key)
      : transport([this] { return waiter.cancelled(); }),
        client(transport, url, {{"Authorization", "Bearer " + key}, {"X-Workspace-slug", slug}},
               settings.http_timeout_ms) {
    secure_wipe(key);
  }
  ~Session() {
    try {
      client.end_session();
    } catch (...) {
      // Best effort: the call's own outcome stands; the server expires a session it kept.
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// The API key MCP takes as its bearer. Plane's hosted API-key endpoint checks the bearer by calling
// /api/v1/users/me/ with it as an API key, and its OAuth endpoint issues tokens of its own: an
// OAuth or bot token works with neither, so an OAuth or bot installation needs an API key in Vault
// for MCP too, and a token is never sent.
std::string mcp_api_key(const std::string& slug, const std::string& auth_mode, const std::string& url) {
  require_credential_url(url, "MCP URL");
  std::string key = read_vault_secret_in_transaction(api_key_names(slug, url), /*required=*/false);
  if (key.empty()) {
    throw PlaneError(ErrorKind::Config,
                     "Plane's MCP server takes an API key" +
                         std::string(auth_mode == "api_key" ? "" : ", not an OAuth or bot token") +
                         ", and Vault has none for workspace \"" + slug +
                         "\": store one with SELECT vault.create_secret('<plane_api_...>', 'plane_api_key:" +
                         slug + "')");
  }
  return key;
}

// Arguments are logged, minus anything that looks like a credential.
nlohmann::json redacted(const nlohmann::json& arguments) {
  if (!arguments.is_object()) return arguments;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : arguments.items()) {
    std::string key = k;
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool secret = key.find("token") != std::string::npos || key.find("secret") != std::string::npos ||
                        key.find("password") != std::string::npos || key.find("api_key") != std::string::npos ||
                        key.find("authorization") != std::string::npos;
    out[k] = secret ? nlohmann::json("[redacted]") : v;
  }
  return out;
}

}  // namespace

nlohmann::json mcp_call(const std::string& slug, const std::string& tool, const nlohmann::json& arguments) {
  const McpInstallation inst = load_installation(slug);
  const std::string action = arguments.is_object() && arguments.contains("action") && arguments["action"].is_string()
                                 ? arguments["action"].get<std::string>()
                                 : "";
  const std::string audit_action = action.empty() ? tool : tool + "." + action;
  nlohmann::json details = {{"tool", tool}, {"action", action}, {"arguments", redacted(arguments)}};
  try {
    Session session(inst.url, slug, mcp_api_key(slug, inst.auth_mode, inst.url));
    const nlohmann::json tools = session.client.list_tools();
    nlohmann::json descriptor = {{"name", tool}};
    for (const auto& t : tools) {
      if (t.is_object() && t.value("name", "") == tool) descriptor = t;
    }
    const bool mutating = plane::tool_is_mutating(descriptor, action);
    details["mutating"] = mutating;
    if (mutating && !inst.writeback_enabled) {
      details["refused"] = "writeback_policy is disabled";
      details["outcome"] = "refused";
      audit_outside_transaction(kSource, slug, audit_action, 0, details.dump());
      throw PlaneError(ErrorKind::Config,
                       "MCP tool \"" + audit_action + "\" may change Plane and the writeback policy of "
                       "workspace \"" + slug + "\" is disabled: the call was refused and logged "
                       "(SELECT work_plane.set_writeback_policy('" + slug + "', 'enabled', conflict_policy => 'keep_local'))");
    }
    nlohmann::json result = session.client.call_tool(tool, arguments.is_null() ? nlohmann::json::object() : arguments);
    const bool tool_error = plane::mcp_result_is_error(result);
    details["is_error"] = tool_error;
    // A tool that failed answers a normal result with isError: a failed call all the same.
    details["outcome"] = tool_error ? "failed" : "ok";
    if (tool_error) details["error"] = plane::mcp_result_text(result, 500);
    audit_outside_transaction(kSource, slug, audit_action, 200, details.dump());
    return result;
  } catch (const PlaneError& e) {
    if (!details.contains("refused")) {
      details["outcome"] = "failed";
      details["error"] = e.what();
      audit_outside_transaction(kSource, slug, audit_action, static_cast<int>(e.http_status()), details.dump());
    }
    throw;
  }
}

nlohmann::json mcp_tools(const std::string& slug) {
  const McpInstallation inst = load_installation(slug);
  nlohmann::json details = {{"tool", "tools/list"}};
  try {
    Session session(inst.url, slug, mcp_api_key(slug, inst.auth_mode, inst.url));
    nlohmann::json tools = session.client.list_tools();
    for (auto& t : tools) {
      if (t.is_object()) t["mutating"] = plane::tool_is_mutating(t, "");
    }
    details["count"] = tools.size();
    audit_outside_transaction(kSource, slug, "tools/list", 200, details.dump());
    return tools;
  } catch (const PlaneError& e) {
    details["outcome"] = "failed";
    details["error"] = e.what();
    audit_outside_transaction(kSource, slug, "tools/list", static_cast<int>(e.http_status()), details.dump());
    throw;
  }
}

}  // namespace plane::pg
