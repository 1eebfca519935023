// libFuzzer target for src/core/mcp: the text/event-stream splitter and the JSON-RPC reply handling
// of McpClient, fed by a (hostile or broken) MCP server. Build and run: see test/fuzz/README.md.
// Any crash, sanitizer report, exception other than PlaneError, or broken invariant (abort) is a
// finding.
//
// Input layout: byte 0 picks the operation, (byte - '0') mod 5:
//   '0' initialize   '1' list_tools   '2' call_tool   '3' request("ping")
//   '4' parse_sse_data only (the rest is one event stream)
// For '0'-'3' the rest is a script of server replies separated by "\n=====\n", one per HTTP
// request the client makes (initialize, the initialized notification, then the call; a 404 makes
// it start over). The first byte of each reply is a selector:
//   bits 0-2: status {200, 200, 202, 400, 401, 404, 429, 500}
//   bits 3-4: Content-Type {application/json, text/event-stream, none (sniffed),
//                           "Text/Event-Stream; charset=utf-8"}
//   bit 5:    send an Mcp-Session-Id header
// so 'A' is 200 JSON, 'I' 200 SSE, 'a'/'i' the same with a session id, 'B' 202, 'E' 404.
// "$ID" in a reply is replaced by the id of the request it answers (0 for a notification), so
// seeds stay valid replies after the fuzzer mutates the rest. When the script runs out the
// transport throws PlaneError(Transport), as a dropped connection would.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/mcp.hpp"

namespace {

using nlohmann::json;

constexpr std::string_view kSeparator = "\n=====\n";
const std::string kToken = "MCPTOKENxyz";  // must never appear in an error message

void check(bool ok) {
  if (!ok) abort();
}

bool has_line_break_or_nul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// parse_sse_data's own properties: total, no line breaks other than the "\n" that joins data
// lines, no more bytes out than in, and CRLF / LF / CR line ends are interchangeable (rewriting
// every line end of the body as another kind gives the same events).
void check_sse(std::string_view body) {
  const std::vector<std::string> events = plane::parse_sse_data(body);
  size_t total = 0;
  for (const std::string& e : events) {
    check(e.find('\r') == std::string::npos);
    total += e.size();
  }
  check(total <= body.size());
  if (body.find("data") == std::string_view::npos) check(events.empty());

  std::string lf;  // every line end (CRLF, lone CR, LF) as LF
  lf.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r') {
      if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
      lf.push_back('\n');
    } else {
      lf.push_back(body[i]);
    }
  }
  check(plane::parse_sse_data(lf) == events);
  std::string cr = lf;  // ... as CR
  std::string crlf;     // ... as CRLF
  crlf.reserve(2 * lf.size());
  for (char& c : cr) {
    if (c == '\n') {
      c = '\r';
      crlf += "\r\n";
    } else {
      crlf.push_back(c);
    }
  }
  check(plane::parse_sse_data(cr) == events);
  check(plane::parse_sse_data(crlf) == events);
}

class ScriptedTransport final : public plane::HttpTransport {
 public:
  explicit ScriptedTransport(std::string_view script) {
    while (true) {
      const size_t at = script.find(kSeparator);
      replies_.push_back(script.substr(0, at));
      if (at == std::string_view::npos) break;
      script.remove_prefix(at + kSeparator.size());
    }
  }

  plane::HttpResponse perform(const plane::HttpRequest& request) override {
    ++calls;
    check(request.method == "POST" && request.url == "https://mcp.example.com/mcp");
    bool auth = false;
    for (const auto& [name, value] : request.headers) {
      // A header value with CR, LF or NUL would split or cut the header line curl sends.
      check(!has_line_break_or_nul(name) && !has_line_break_or_nul(value));
      if (name == "Authorization" && value == "Bearer " + kToken) auth = true;
    }
    check(auth);
    const json message = json::parse(request.body);  // ours: must be valid JSON-RPC
    check(message.is_object() && message.at("jsonrpc") == "2.0" && message.at("method").is_string());
    const std::string id = message.contains("id") ? message["id"].dump() : "0";

    if (next_ >= replies_.size()) {
      throw plane::PlaneError(plane::ErrorKind::Transport, "fuzz: the server hung up");
    }
    std::string_view reply = replies_[next_++];
    plane::HttpResponse response;
    if (reply.empty()) {
      response.status = 200;
      return response;
    }
    static const long kStatus[] = {200, 200, 202, 400, 401, 404, 429, 500};
    const unsigned sel = static_cast<unsigned char>(reply.front());
    reply.remove_prefix(1);
    response.status = kStatus[sel & 7];
    switch ((sel >> 3) & 3) {
      case 0: response.headers.emplace_back("content-type", "application/json"); break;
      case 1: response.headers.emplace_back("content-type", "text/event-stream"); break;
      case 2: break;
      default: response.headers.emplace_back("content-type", "Text/Event-Stream; charset=utf-8"); break;
    }
    if (sel & 0x20) {
      response.headers.emplace_back("mcp-session-id", "sess-" + std::to_string(next_));
    }
    response.body.reserve(reply.size());
    for (size_t i = 0; i < reply.size(); ++i) {
      if (reply.substr(i, 3) == "$ID") {
        response.body += id;
        i += 2;
      } else {
        response.body.push_back(reply[i]);
      }
    }
    return response;
  }

  int calls = 0;
  size_t replies() const { return replies_.size(); }

 private:
  std::vector<std::string_view> replies_;
  size_t next_ = 0;
};

void exercise_client(unsigned op, std::string_view script) {
  ScriptedTransport transport(script);
  try {
    plane::McpClient client(transport, "https://mcp.example.com/mcp",
                            {{"Authorization", "Bearer " + kToken}, {"X-Workspace-slug", "acme"}},
                            5000);
    switch (op) {
      case 0: {
        const json result = client.initialize();
        check(result.is_object() && client.initialized());
        break;
      }
      case 1: {
        const json tools = client.list_tools();
        check(tools.is_array() && client.initialized());
        for (const json& tool : tools) {
          (void)plane::tool_is_mutating(tool, "");
          (void)plane::tool_is_mutating(tool, "list");
          (void)tool.dump(-1, ' ', false, json::error_handler_t::replace);
        }
        break;
      }
      case 2: {
        const json result = client.call_tool("list_projects", json{{"action", "list"}});
        check(result.is_object());
        (void)plane::mcp_result_is_error(result);
        (void)plane::tool_is_mutating(result, "");
        break;
      }
      default: {
        const json result = client.request("ping", json());
        (void)plane::mcp_result_is_error(result);
        break;
      }
    }
  } catch (const plane::McpRpcError& e) {
    check(std::string_view(e.what()).find(kToken) == std::string_view::npos);
    check(e.kind() == plane::ErrorKind::Http);
    (void)e.data().dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const plane::PlaneError& e) {
    check(std::string_view(e.what()).find(kToken) == std::string_view::npos);
    check(e.kind() != plane::ErrorKind::Config && e.kind() != plane::ErrorKind::Internal);
  } catch (...) {
    abort();  // anything but PlaneError (nlohmann's json::exception, std::out_of_range, ...)
  }
  // One request per scripted reply at most, plus the one that found the script exhausted.
  check(static_cast<size_t>(transport.calls) <= transport.replies() + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned op = static_cast<unsigned char>(data[0] - '0') % 5;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  check_sse(rest);  // whatever the operation: parse_sse_data is total on any bytes
  if (op < 4) exercise_client(op, rest);
  return 0;
}
