// A Model Context Protocol client for Plane's MCP server: JSON-RPC 2.0 over MCP's
// "streamable HTTP" transport (protocol revision 2025-03-26). Every message is a POST to one
// endpoint with `Accept: application/json, text/event-stream`; the server answers either with an
// application/json body or with a text/event-stream whose events carry JSON-RPC messages. The
// `Mcp-Session-Id` the server assigns at `initialize` is sent with every later request.
// Plain C++; HTTP only through HttpTransport.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/http.hpp"

namespace plane {

// The MCP protocol revision this client asks for.
inline constexpr const char* kMcpProtocolVersion = "2025-03-26";

// A JSON-RPC `error` object from the server: kind Http, with the JSON-RPC code and data kept.
// The message reads "MCP <method> failed: JSON-RPC error <code>: <message>".
class McpRpcError : public PlaneError {
 public:
  McpRpcError(const std::string& message, long http_status, long rpc_code, nlohmann::json data)
      : PlaneError(ErrorKind::Http, message, http_status),
        rpc_code_(rpc_code),
        data_(std::move(data)) {}
  long rpc_code() const noexcept { return rpc_code_; }
  const nlohmann::json& data() const noexcept { return data_; }

 private:
  long rpc_code_;
  nlohmann::json data_;
};

// Splits a text/event-stream body into the data of its events (WHATWG "server-sent events"
// parsing): lines end in CRLF, LF or CR; a blank line ends an event; `data:` lines of one event are
// joined with "\n" (one leading space after the colon is dropped); comments (`:`), `event:`, `id:`,
// `retry:` and unknown fields are ignored; events without data are skipped; a leading UTF-8 BOM is
// skipped. Unlike a browser it also returns an event left unterminated at the end of the body
// (the HTTP response is complete, so a missing final blank line is a server's slip, not a cut).
// Pure and total: never throws on any input (fuzzed).
std::vector<std::string> parse_sse_data(std::string_view body);

// One MCP session. Not thread-safe; cheap to create per SQL call.
class McpClient {
 public:
  // `headers` go on every request, e.g. {"Authorization", "Bearer <PAT>"},
  // {"X-Workspace-slug", "acme"}. Their values are wiped when the client is destroyed and are
  // never put into an error message. Throws PlaneError(Config) unless the URL is http(s).
  McpClient(HttpTransport& transport, std::string endpoint_url, HeaderList headers,
            long timeout_ms = 60000);
  ~McpClient();
  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  // Sends `initialize` (protocolVersion 2025-03-26, clientInfo {name:"plane_connector"},
  // capabilities {}), keeps the Mcp-Session-Id response header, then sends the
  // `notifications/initialized` notification. Returns the server's initialize result.
  nlohmann::json initialize();

  // All tools, following `nextCursor` until the server gives none. Returns the array of tool
  // descriptors ({name, description, inputSchema, annotations?}). Initializes first if needed.
  nlohmann::json list_tools();

  // `tools/call`; returns the `result` object as the server sent it. A tool that failed answers
  // with `result.isError == true` and its message in `result.content`: that is returned, not
  // thrown (see mcp_result_is_error). `arguments` null means {}. Initializes first if needed.
  nlohmann::json call_tool(const std::string& name, const nlohmann::json& arguments);

  // Any other request (e.g. "ping"); returns its `result`. Initializes first if needed
  // (except for "initialize" itself).
  nlohmann::json request(const std::string& method, const nlohmann::json& params);

  // Ends the session (HTTP DELETE with its Mcp-Session-Id): a streamable-HTTP server keeps every
  // session until then, so clients that never end theirs pile them up on it. Nothing to do when
  // no session was started. Transport errors propagate; any HTTP answer ends it on our side.
  void end_session();

  bool initialized() const { return initialized_; }
  const std::string& session_id() const { return session_id_; }            // empty if none
  const std::string& protocol_version() const { return protocol_version_; }  // negotiated
  const nlohmann::json& server_info() const { return server_info_; }

  // Errors thrown by every call:
  //   JSON-RPC `error` object (in any HTTP status)  → McpRpcError (kind Http) with code and message
  //   HTTP 401/403                                  → PlaneError(Auth)
  //   HTTP 429                                      → PlaneError(RateLimited)
  //   HTTP 5xx                                      → PlaneError(ServerError)
  //   other non-2xx                                 → PlaneError(Http)
  //   reply without a response to our id, bad JSON  → PlaneError(Parse)
  //   (JSON nested deeper than 256 levels counts as bad JSON; a protocolVersion or
  //   Mcp-Session-Id that is not visible ASCII is a Parse error too)
  //   transport failures                            → as thrown by the transport
  //                                                   (Transport, Timeout, Cancelled)
  // A 404 on a request that carried a session id means the session expired: the client starts a
  // new session once and repeats the request (the server did not run it).

 private:
  nlohmann::json send_request(const std::string& method, const nlohmann::json& params,
                              bool allow_reinit);
  void send_notification(const std::string& method, const nlohmann::json& params);
  HttpResponse post(const std::string& body);
  nlohmann::json do_initialize();
  [[noreturn]] void throw_http(const HttpResponse& response, const std::string& method,
                               long id) const;
  std::string safe(std::string text) const;  // drops any text that contains a header value

  HttpTransport& transport_;
  std::string endpoint_url_;
  HeaderList headers_;
  long timeout_ms_;
  long next_id_ = 1;
  bool initialized_ = false;
  std::string session_id_;
  std::string protocol_version_;
  nlohmann::json server_info_;
};

// True when a tools/call result reports a tool error (`isError: true`).
bool mcp_result_is_error(const nlohmann::json& result);

// The text parts of a tools/call result's content, joined with newlines, cut to max_bytes on a
// character boundary (for the audit log of a failed call).
std::string mcp_result_text(const nlohmann::json& result, std::size_t max_bytes);

// Whether calling `tool_descriptor` (an entry of list_tools(), or at least {"name": ...}) with
// `action` (the value of its `action` argument; empty for tools without one) may change Plane:
//  1. annotations.readOnlyHint == true                        → read (false)
//  2. a non-empty action: one of the Python server's read actions (plane-mcp-server 0.3.x: list,
//     retrieve, list_archived, retrieve_by_identifier, search, count, worklog_summary,
//     get_features, list_workitems, list_workitem_pages, me, list_workspace, list_project,
//     list_roles, retrieve_role, get_pql_reference)           → read; any other action → mutating
//  3. no action and (annotations.readOnlyHint == false or
//     annotations.destructiveHint == true)                     → mutating
//  4. no action, by tool name (the Node server, which has no annotations): one of its 27
//     mutating names (create_project, update_issue, …)          → mutating; a name starting with
//     "get_" or "list_"                                        → read
//  5. anything else                                            → mutating (fail safe)
bool tool_is_mutating(const nlohmann::json& tool_descriptor, const std::string& action);

}  // namespace plane
