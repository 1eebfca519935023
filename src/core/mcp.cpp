#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/mcp.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "core/json_parse.hpp"
#include "core/plane_client.hpp"  // describe_error_body
#include "core/runtime.hpp"
#include "core/text.hpp"

namespace plane {

using nlohmann::json;

namespace {

constexpr int kMaxToolPages = 1000;

// Deeper JSON is not parsed: nlohmann copies and dumps recursively, so a reply of a few hundred
// kilobytes of '[' would overflow the stack of the backend (as for webhooks, kMaxJsonDepth).
constexpr int kMaxReplyDepth = 256;

// MCP: a session id "MUST only contain visible ASCII characters (0x21 to 0x7E)". The session id and
// the negotiated protocol version go back to the server as header values, where a CR, LF or NUL
// would split or cut the header line.
bool visible_ascii(std::string_view s) {
  return !s.empty() && s.size() <= 1024 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x21 && c <= 0x7e; });
}

// A JSON-RPC error code as a long: integers as they are, a float only when it is integral and in
// range (a cast of 1e300 to long is undefined behaviour), anything else 0.
long rpc_error_code(const json& code) {
  if (code.is_number_unsigned()) {
    const auto u = code.get<std::uint64_t>();
    return u <= static_cast<std::uint64_t>(LONG_MAX) ? static_cast<long>(u) : 0;
  }
  if (code.is_number_integer()) return code.get<long>();
  if (code.is_number_float()) {
    const double d = code.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= 9007199254740992.0) {
      return static_cast<long>(d);
    }
  }
  return 0;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool id_matches(const json& got, long want) {
  if (got.is_number_integer() || got.is_number_unsigned()) return got == json(want);
  if (got.is_string()) return got.get_ref<const std::string&>() == std::to_string(want);
  return false;
}

// The JSON-RPC messages in a reply body: one JSON document, or one per SSE event.
std::vector<json> reply_messages(const HttpResponse& response) {
  const std::string type = lower(response.header("content-type").value_or(""));
  bool sse = type.rfind("text/event-stream", 0) == 0;
  if (!sse && type.rfind("application/json", 0) != 0) {
    // No (or an odd) content type: sniff. A JSON document starts with '{' or '['.
    auto first = std::find_if(response.body.begin(), response.body.end(),
                              [](unsigned char c) { return !std::isspace(c); });
    sse = first != response.body.end() && *first != '{' && *first != '[';
  }
  std::vector<std::string> texts;
  if (sse) {
    texts = parse_sse_data(response.body);
  } else {
    texts.push_back(response.body);
  }
  std::vector<json> out;
  for (const std::string& text : texts) {
    if (json_nesting_depth(text, kMaxReplyDepth) > kMaxReplyDepth) continue;  // treated as not JSON
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) continue;
    if (doc.is_array()) {  // a JSON-RPC batch
      for (auto& m : doc) {
        if (m.is_object()) out.push_back(std::move(m));
      }
    } else if (doc.is_object()) {
      out.push_back(std::move(doc));
    }
  }
  return out;
}

// The response to request `id` (a message with that id and a result or error); failing that, an
// error about no particular request (id null), which servers send when they could not read ours.
std::optional<json> find_response(const std::vector<json>& messages, long id) {
  const json* fallback = nullptr;
  for (const json& m : messages) {
    const bool is_response = m.contains("result") || m.contains("error");
    if (!is_response) continue;  // a server request or notification, not for us
    auto it = m.find("id");
    if (it != m.end() && id_matches(*it, id)) return m;
    if ((it == m.end() || it->is_null()) && m.contains("error") && fallback == nullptr) {
      fallback = &m;
    }
  }
  if (fallback != nullptr) return *fallback;
  return std::nullopt;
}

const std::set<std::string>& read_actions() {
  // plane-mcp-server 0.3.x (Python): the actions it declares Action(read=True).
  static const std::set<std::string> actions = {
      "list",           "retrieve",       "list_archived",       "retrieve_by_identifier",
      "search",         "count",          "worklog_summary",     "get_features",
      "list_workitems", "list_workitem_pages", "me",            "list_workspace",
      "list_project",   "list_roles",     "retrieve_role",       "get_pql_reference"};
  return actions;
}

const std::set<std::string>& node_mutating_tools() {
  // @makeplane/plane-mcp-server 0.1.5 (Node): its 27 mutating tools.
  static const std::set<std::string> tools = {
      "create_project",     "create_issue",       "update_issue",        "add_issue_comment",
      "create_issue_type",  "update_issue_type",  "delete_issue_type",   "create_state",
      "update_state",       "delete_state",       "create_label",        "update_label",
      "delete_label",       "create_module",      "update_module",       "delete_module",
      "add_module_issues",  "delete_module_issue", "create_cycle",       "update_cycle",
      "delete_cycle",       "add_cycle_issues",   "delete_cycle_issue",  "transfer_cycle_issues",
      "create_worklog",     "update_worklog",     "delete_worklog"};
  return tools;
}

std::optional<bool> bool_hint(const json& annotations, const char* key) {
  if (!annotations.is_object()) return std::nullopt;
  auto it = annotations.find(key);
  if (it == annotations.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SSE

std::vector<std::string> parse_sse_data(std::string_view body) {
  std::vector<std::string> events;
  std::string data;
  bool has_data = false;
  auto dispatch = [&] {
    if (has_data) {
      if (!data.empty() && data.back() == '\n') data.pop_back();
      events.push_back(std::move(data));
    }
    data.clear();
    has_data = false;
  };

  size_t i = 0;
  const size_t n = body.size();
  if (body.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < n) {
    size_t j = i;
    while (j < n && body[j] != '\r' && body[j] != '\n') ++j;
    const std::string_view line = body.substr(i, j - i);
    if (j < n) j += (body[j] == '\r' && j + 1 < n && body[j + 1] == '\n') ? 2 : 1;
    i = j;

    if (line.empty()) {
      dispatch();
      continue;
    }
    if (line.front() == ':') continue;  // comment (keep-alive)
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      data.append(value.data(), value.size());
      data.push_back('\n');
      has_data = true;
    }
    // event:, id:, retry: and unknown fields do not matter to a JSON-RPC reader.
  }
  dispatch();  // an event the server left unterminated at the end of a complete response
  return events;
}

// ---------------------------------------------------------------------------------------------
// McpClient

McpClient::McpClient(HttpTransport& transport, std::string endpoint_url, HeaderList headers,
                     long timeout_ms)
    : transport_(transport),
      endpoint_url_(std::move(endpoint_url)),
      headers_(std::move(headers)),
      timeout_ms_(timeout_ms) {
  if (endpoint_url_.rfind("http://", 0) != 0 && endpoint_url_.rfind("https://", 0) != 0) {
    throw PlaneError(ErrorKind::Config, "MCP endpoint URL must start with http:// or https://");
  }
}

McpClient::~McpClient() {
  for (auto& header : headers_) secure_wipe(header.second);
}

std::string McpClient::safe(std::string text) const {
  for (const auto& [name, value] : headers_) {
    std::string_view v(value);
    std::string_view token = v;
    if (token.size() > 7 && lower(token.substr(0, 7)) == "bearer ") token.remove_prefix(7);
    for (std::string_view secret : {v, token}) {
      if (secret.size() >= 4 && text.find(secret) != std::string::npos) {
        return "(text withheld: it contained a credential)";
      }
    }
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return truncate_utf8(text, 303);
}

void McpClient::end_session() {
  if (session_id_.empty()) return;
  HttpRequest request;
  request.method = "DELETE";
  request.url = endpoint_url_;
  request.timeout_ms = std::min(timeout_ms_, 10000L);  // a courtesy: never hold the caller long
  request.headers.emplace_back("Mcp-Session-Id", session_id_);
  if (!protocol_version_.empty()) request.headers.emplace_back("Mcp-Protocol-Version", protocol_version_);
  for (const auto& header : headers_) request.headers.push_back(header);
  struct WipeHeaders {
    HeaderList& h;
    ~WipeHeaders() {
      for (auto& header : h) secure_wipe(header.second);
    }
  } wipe{request.headers};
  session_id_.clear();
  initialized_ = false;
  (void)transport_.perform(request);  // any status: the server forgets the session or never knew it
}

HttpResponse McpClient::post(const std::string& body) {
  HttpRequest request;
  request.method = "POST";
  request.url = endpoint_url_;
  request.timeout_ms = timeout_ms_;
  request.body = body;
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Accept", "application/json, text/event-stream");
  request.headers.emplace_back("User-Agent", "plane_connector/0.1");
  if (!session_id_.empty()) request.headers.emplace_back("Mcp-Session-Id", session_id_);
  if (!protocol_version_.empty()) {
    request.headers.emplace_back("Mcp-Protocol-Version", protocol_version_);
  }
  for (const auto& header : headers_) request.headers.push_back(header);
  struct WipeHeaders {
    HeaderList& h;
    ~WipeHeaders() {
      for (auto& header : h) secure_wipe(header.second);
    }
  } wipe{request.headers};
  return transport_.perform(request);
}

void McpClient::throw_http(const HttpResponse& response, const std::string& method,
                           long id) const {
  const long status = response.status;
  std::string detail;
  std::optional<json> rpc = find_response(reply_messages(response), id);
  if (rpc && rpc->contains("error") && (*rpc)["error"].is_object()) {
    const json& e = (*rpc)["error"];
    if (auto m = e.find("message"); m != e.end() && m->is_string()) detail = m->get<std::string>();
  } else {
    detail = describe_error_body(response.body);
  }
  detail = safe(detail);
  const std::string what = "MCP " + method + ": HTTP " + std::to_string(status) +
                           (detail.empty() ? std::string() : ": " + detail);
  if (status == 401 || status == 403) {
    throw PlaneError(ErrorKind::Auth, "the MCP server refused the credential (" + what + ")",
                     status);
  }
  if (status == 429) throw PlaneError(ErrorKind::RateLimited, what, status);
  if (status >= 500 || status == 0) throw PlaneError(ErrorKind::ServerError, what, status);
  throw PlaneError(ErrorKind::Http, what, status);
}

json McpClient::send_request(const std::string& method, const json& params, bool allow_reinit) {
  const long id = next_id_++;
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  HttpResponse response = post(message.dump());
  const long status = response.status;

  if ((status == 404 || status == 400) && allow_reinit && !session_id_.empty() && method != "initialize") {
    // MCP: a 404 to a request with a session id means the session is gone (older servers answer
    // 400); start a new one and repeat the request once — a genuine 400 fails the second time.
    session_id_.clear();
    protocol_version_.clear();
    initialized_ = false;
    do_initialize();
    return send_request(method, params, false);
  }

  const std::vector<json> messages = reply_messages(response);
  std::optional<json> reply = find_response(messages, id);
  const bool ok = status >= 200 && status < 300;
  if (!ok && (status == 401 || status == 403 || status == 429 || status >= 500 || !reply ||
              !reply->contains("error"))) {
    throw_http(response, method, id);
  }
  if (method == "initialize") {
    if (auto sid = response.header("mcp-session-id"); sid && !sid->empty()) {
      if (!visible_ascii(*sid)) {
        throw PlaneError(ErrorKind::Parse,
                         "the MCP server's Mcp-Session-Id is not visible ASCII (0x21-0x7E)", status);
      }
      session_id_ = *sid;
    }
  }
  if (!reply) {
    throw PlaneError(ErrorKind::Parse,
                     "the MCP server's reply to " + method + " (HTTP " + std::to_string(status) +
                         ") carried no JSON-RPC response to request " + std::to_string(id),
                     status);
  }
  if (auto it = reply->find("error"); it != reply->end() && !it->is_null()) {
    long code = 0;
    std::string text;
    json data;
    if (it->is_object()) {
      if (auto c = it->find("code"); c != it->end()) code = rpc_error_code(*c);
      if (auto m = it->find("message"); m != it->end() && m->is_string()) text = m->get<std::string>();
      if (auto d = it->find("data"); d != it->end()) data = *d;
    } else if (it->is_string()) {
      text = it->get<std::string>();
    }
    throw McpRpcError("MCP " + method + " failed: JSON-RPC error " + std::to_string(code) + ": " +
                          safe(text),
                      status, code, std::move(data));
  }
  auto result = reply->find("result");
  if (result == reply->end()) {
    throw PlaneError(ErrorKind::Parse, "the MCP response to " + method + " has no result", status);
  }
  return *result;
}

void McpClient::send_notification(const std::string& method, const json& params) {
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  HttpResponse response = post(message.dump());
  if (response.status < 200 || response.status >= 300) throw_http(response, method, 0);
}

json McpClient::do_initialize() {
  session_id_.clear();
  protocol_version_.clear();
  initialized_ = false;
  json params = {{"protocolVersion", kMcpProtocolVersion},
                 {"capabilities", json::object()},
                 {"clientInfo", {{"name", "plane_connector"}, {"version", "0.1.0"}}}};
  json result = send_request("initialize", params, false);
  if (!result.is_object()) {
    throw PlaneError(ErrorKind::Parse, "the MCP initialize result is not a JSON object");
  }
  auto version = result.find("protocolVersion");
  if (version != result.end() && version->is_string() &&
      !version->get_ref<const std::string&>().empty()) {
    if (!visible_ascii(version->get_ref<const std::string&>())) {
      throw PlaneError(ErrorKind::Parse, "the MCP initialize result's protocolVersion is not a "
                                         "version string (visible ASCII)");
    }
    protocol_version_ = version->get<std::string>();
  } else {
    protocol_version_ = kMcpProtocolVersion;
  }
  server_info_ = result.value("serverInfo", json::object());
  send_notification("notifications/initialized", json());
  initialized_ = true;
  return result;
}

json McpClient::initialize() { return do_initialize(); }

json McpClient::request(const std::string& method, const json& params) {
  if (method == "initialize") return do_initialize();
  if (!initialized_) do_initialize();
  return send_request(method, params, true);
}

json McpClient::list_tools() {
  if (!initialized_) do_initialize();
  json tools = json::array();
  std::string cursor;
  std::set<std::string> seen;
  for (int page = 0;; ++page) {
    if (page >= kMaxToolPages) {
      throw PlaneError(ErrorKind::Parse, "MCP tools/list did not end after " +
                                             std::to_string(kMaxToolPages) + " pages");
    }
    json params = json::object();
    if (!cursor.empty()) params["cursor"] = cursor;
    json result = send_request("tools/list", params, true);
    if (!result.is_object()) {
      throw PlaneError(ErrorKind::Parse, "the MCP tools/list result is not a JSON object");
    }
    auto list = result.find("tools");
    if (list == result.end() || !list->is_array()) {
      throw PlaneError(ErrorKind::Parse, "the MCP tools/list result has no tools array");
    }
    for (auto& tool : *list) tools.push_back(std::move(tool));
    auto next = result.find("nextCursor");
    if (next == result.end() || !next->is_string() || next->get_ref<const std::string&>().empty()) {
      break;
    }
    cursor = next->get<std::string>();
    if (!seen.insert(cursor).second) {
      throw PlaneError(ErrorKind::Parse, "MCP tools/list repeated a cursor");
    }
  }
  return tools;
}

json McpClient::call_tool(const std::string& name, const json& arguments) {
  if (name.empty()) throw PlaneError(ErrorKind::Config, "MCP tool name is empty");
  if (!arguments.is_null() && !arguments.is_object()) {
    throw PlaneError(ErrorKind::Config, "MCP tool arguments must be a JSON object");
  }
  if (!initialized_) do_initialize();
  json params = {{"name", name},
                 {"arguments", arguments.is_null() ? json::object() : arguments}};
  json result = send_request("tools/call", params, true);
  if (!result.is_object()) {
    throw PlaneError(ErrorKind::Parse, "the MCP tools/call result is not a JSON object");
  }
  return result;
}

std::string mcp_result_text(const json& result, std::size_t max_bytes) {
  std::string text;
  const json* content = result.is_object() && result.contains("content") ? &result["content"] : nullptr;
  if (content != nullptr && content->is_array()) {
    for (const auto& part : *content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string()) {
        continue;
      }
      if (!text.empty()) text += '\n';
      text += part["text"].get<std::string>();
      if (text.size() > max_bytes) break;
    }
  }
  return truncate_utf8(text, max_bytes);
}

bool mcp_result_is_error(const json& result) {
  if (!result.is_object()) return false;
  auto it = result.find("isError");
  return it != result.end() && it->is_boolean() && it->get<bool>();
}

// ---------------------------------------------------------------------------------------------
// Policy

bool tool_is_mutating(const json& tool_descriptor, const std::string& action) {
  json annotations;
  std::string name;
  if (tool_descriptor.is_object()) {
    if (auto it = tool_descriptor.find("annotations"); it != tool_descriptor.end()) {
      annotations = *it;
    }
    if (auto it = tool_descriptor.find("name"); it != tool_descriptor.end() && it->is_string()) {
      name = it->get<std::string>();
    }
  } else if (tool_descriptor.is_string()) {
    name = tool_descriptor.get<std::string>();
  }
  const std::optional<bool> read_only = bool_hint(annotations, "readOnlyHint");
  if (read_only == true) return false;
  if (!action.empty()) return read_actions().count(action) == 0;
  if (read_only == false || bool_hint(annotations, "destructiveHint") == true) return true;
  if (node_mutating_tools().count(name) != 0) return true;
  if (name.rfind("get_", 0) == 0 || name.rfind("list_", 0) == 0) return false;
  return true;
}

}  // namespace plane
