// work_plane.mcp_call / mcp_tools: one call to Plane's MCP server (streamable HTTP, JSON-RPC),
// authenticated with the workspace's API key from Vault (Authorization: Bearer + X-Workspace-slug),
// policy-gated (calls that may change Plane need writeback_policy = 'enabled') and audited in
// ops.run_events with source 'plane_mcp', whatever the outcome.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace plane::pg {

nlohmann::json mcp_call(const std::string& slug, const std::string& tool,
                        const nlohmann::json& arguments);
nlohmann::json mcp_tools(const std::string& slug);

}  // namespace plane::pg
