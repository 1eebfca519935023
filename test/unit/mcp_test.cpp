// Unit tests for src/core/mcp: the streamable-HTTP handshake and session header,
// JSON and SSE replies (several events, multi-line data, comments, CRLF), JSON-RPC errors, tool
// errors returned as results, tools/list pagination, HTTP error mapping without credentials in
// messages, session expiry, and the read/mutate policy of tool_is_mutating.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/mcp.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakeTransport;
using nlohmann::json;
using plane::ErrorKind;
using plane::McpClient;
using plane::PlaneError;

const char* const kUrl = "https://mcp.plane.so/http/api-key/mcp";
const char* const kPat = "plane_api_0123456789abcdef0123456789abcdef";

plane::HeaderList auth_headers() {
  return {{"Authorization", std::string("Bearer ") + kPat}, {"X-Workspace-slug", "acme"}};
}

using fakes::expect_error;

void expect_no_pat(const std::string& message) {
  EXPECT_EQ(message.find(kPat), std::string::npos) << message;
}

std::string sse(const json& message) { return "event: message\ndata: " + message.dump() + "\n\n"; }

// A small streamable-HTTP MCP server for the fake transport: answers initialize with a session id,
// 202 to notifications, and everything else through `on_request`; replies as JSON or as SSE.
struct FakeMcpServer {
  std::string session = "sess-4b1d";
  bool use_sse = false;
  std::vector<json> received;  // every JSON-RPC message, in order
  std::function<json(const json& request)> on_request;  // returns a full response message

  plane::HttpResponse operator()(const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    received.push_back(msg);
    if (!msg.contains("id")) return fakes::response(202, "");
    json reply;
    plane::HeaderList headers;
    if (msg["method"] == "initialize") {
      reply = {{"jsonrpc", "2.0"},
               {"id", msg["id"]},
               {"result",
                {{"protocolVersion", "2025-03-26"},
                 {"capabilities", {{"tools", {{"listChanged", false}}}}},
                 {"serverInfo", {{"name", "fake-plane-mcp"}, {"version", "0.3.1"}}}}}};
      headers.emplace_back("mcp-session-id", session);
    } else {
      reply = on_request(msg);
    }
    if (use_sse) {
      headers.emplace_back("content-type", "text/event-stream");
      return fakes::response(200, ": keep-alive\n\n" + sse(reply), headers);
    }
    headers.emplace_back("content-type", "application/json");
    return fakes::response(200, reply.dump(), headers);
  }
};

json ok(const json& request, json result) {
  return {{"jsonrpc", "2.0"}, {"id", request["id"]}, {"result", std::move(result)}};
}

// ------------------------------------------------------------------------- SSE parser

TEST(McpSse, SplitsEventsAndJoinsMultiLineData) {
  const std::string body =
      ": comment line\r\n"
      "event: message\r\n"
      "id: 7\r\n"
      "data: {\"a\":\r\n"
      "data:  1}\r\n"
      "\r\n"
      "retry: 1000\n"
      "data:second\n"
      "\n"
      "event: ping\n"
      "\n"  // an event without data is no event
      "data\n"
      "data: \n"
      "\n"
      "data: cr only\r\r"
      "data: tail without blank line";
  const auto events = plane::parse_sse_data(body);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0], "{\"a\":\n 1}");  // one leading space dropped, the second kept
  EXPECT_EQ(events[1], "second");
  EXPECT_EQ(events[2], "\n");             // "data" (no colon) then "data: " = two empty lines
  EXPECT_EQ(events[3], "cr only");
  EXPECT_EQ(events[4], "tail without blank line");
}

TEST(McpSse, EdgeCases) {
  EXPECT_TRUE(plane::parse_sse_data("").empty());
  EXPECT_TRUE(plane::parse_sse_data(":only a comment\n\n").empty());
  EXPECT_TRUE(plane::parse_sse_data("\n\n\r\n").empty());
  EXPECT_EQ(plane::parse_sse_data("\xEF\xBB\xBF" "data: x\n\n"), std::vector<std::string>{"x"});
  EXPECT_EQ(plane::parse_sse_data("data: a:b: c\n\n"), std::vector<std::string>{"a:b: c"});
  EXPECT_EQ(plane::parse_sse_data("dataX: no\ndata: yes\n\n"), std::vector<std::string>{"yes"});
  EXPECT_EQ(plane::parse_sse_data("data: 1\n\ndata: 2\n\n"), (std::vector<std::string>{"1", "2"}));
  const std::string with_nul("data: a\0b\n\n", 11);
  EXPECT_EQ(plane::parse_sse_data(with_nul), std::vector<std::string>{std::string("a\0b", 3)});
}

// ------------------------------------------------------------------------- handshake

TEST(McpClient, InitializeHandshakeAndSessionHeaderOnEveryLaterRequest) {
  FakeTransport transport;
  FakeMcpServer server;
  server.on_request = [](const json& r) { return ok(r, {{"tools", json::array()}}); };
  transport.handler = std::ref(server);

  McpClient client(transport, kUrl, auth_headers());
  EXPECT_FALSE(client.initialized());
  json init = client.initialize();
  EXPECT_TRUE(client.initialized());
  EXPECT_EQ(init["serverInfo"]["name"], "fake-plane-mcp");
  EXPECT_EQ(client.session_id(), "sess-4b1d");
  EXPECT_EQ(client.protocol_version(), "2025-03-26");
  EXPECT_EQ(client.server_info()["version"], "0.3.1");
  EXPECT_EQ(client.list_tools(), json::array());

  ASSERT_EQ(server.received.size(), 3u);
  const json& first = server.received[0];
  EXPECT_EQ(first["jsonrpc"], "2.0");
  EXPECT_EQ(first["method"], "initialize");
  EXPECT_TRUE(first.contains("id"));
  EXPECT_EQ(first["params"]["protocolVersion"], "2025-03-26");
  EXPECT_EQ(first["params"]["clientInfo"]["name"], "plane_connector");
  EXPECT_EQ(first["params"]["capabilities"], json::object());
  EXPECT_EQ(server.received[1], (json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}));
  EXPECT_EQ(server.received[2]["method"], "tools/list");
  EXPECT_NE(server.received[2]["id"], first["id"]);

  for (size_t i = 0; i < transport.sent.size(); ++i) {
    const auto& req = transport.sent[i].request;
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.url, kUrl);
    EXPECT_EQ(transport.header_of(i, "Accept"), "application/json, text/event-stream");
    EXPECT_EQ(transport.header_of(i, "Content-Type"), "application/json");
    EXPECT_EQ(transport.header_of(i, "Authorization"), std::string("Bearer ") + kPat);
    EXPECT_EQ(transport.header_of(i, "X-Workspace-slug"), "acme");
    if (i == 0) {
      EXPECT_FALSE(transport.header_of(i, "Mcp-Session-Id").has_value());
    } else {
      EXPECT_EQ(transport.header_of(i, "Mcp-Session-Id"), "sess-4b1d");
      EXPECT_EQ(transport.header_of(i, "Mcp-Protocol-Version"), "2025-03-26");
    }
  }
}

TEST(McpClient, CallToolInitializesOnFirstUseAndReturnsTheJsonResult) {
  FakeTransport transport;
  FakeMcpServer server;
  server.on_request = [](const json& r) {
    EXPECT_EQ(r["method"], "tools/call");
    EXPECT_EQ(r["params"]["name"], "workitem");
    EXPECT_EQ(r["params"]["arguments"], (json{{"action", "list"}, {"project_id", "p1"}}));
    return ok(r, {{"content", json::array({{{"type", "text"}, {"text", "[]"}}})},
                  {"isError", false}});
  };
  transport.handler = std::ref(server);
  McpClient client(transport, kUrl, auth_headers());
  json result = client.call_tool("workitem", {{"action", "list"}, {"project_id", "p1"}});
  EXPECT_EQ(result["content"][0]["text"], "[]");
  EXPECT_FALSE(plane::mcp_result_is_error(result));
  EXPECT_EQ(server.received.size(), 3u);  // initialize, initialized, tools/call

  // null arguments are sent as {}
  server.on_request = [](const json& r) {
    EXPECT_EQ(r["params"]["arguments"], json::object());
    return ok(r, {{"content", json::array()}});
  };
  client.call_tool("get_me", json());
  EXPECT_EQ(server.received.size(), 4u);
  expect_error([&] { client.call_tool("workitem", json::array()); }, ErrorKind::Config);
  expect_error([&] { client.call_tool("", json::object()); }, ErrorKind::Config);
}

TEST(McpClient, ServerWithoutSessionIdSendsNoSessionHeader) {
  FakeTransport transport;
  FakeMcpServer server;
  server.session.clear();
  server.on_request = [](const json& r) { return ok(r, json::object()); };
  transport.handler = [&](const plane::HttpRequest& req) {
    plane::HttpResponse resp = server(req);
    resp.headers.erase(std::remove_if(resp.headers.begin(), resp.headers.end(),
                                      [](const auto& h) { return h.first == "mcp-session-id"; }),
                       resp.headers.end());
    return resp;
  };
  McpClient client(transport, kUrl, auth_headers());
  client.request("ping", json::object());
  for (size_t i = 0; i < transport.sent.size(); ++i) {
    EXPECT_FALSE(transport.header_of(i, "Mcp-Session-Id").has_value());
  }
}

// ------------------------------------------------------------------------- SSE replies

TEST(McpClient, SseReplyPicksTheMessageWithOurIdAmongSeveralEvents) {
  FakeTransport transport;
  FakeMcpServer server;
  transport.handler = std::ref(server);
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();

  const json result = {{"content", json::array({{{"type", "text"}, {"text", "line1\nline2"}}})},
                       {"structuredContent", {{"id", "wi-1"}, {"name", "Fix — café"}}}};
  transport.handler = [&](const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    const json id = msg["id"];
    json response = {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}};
    // Pretty-printed over several data: lines, CRLF line ends, with a log notification, a server
    // request, a response to some other id and keep-alive comments around it.
    std::string multi;
    std::string pretty = response.dump(2);
    size_t start = 0;
    while (start <= pretty.size()) {
      size_t nl = pretty.find('\n', start);
      if (nl == std::string::npos) nl = pretty.size();
      multi += "data: " + pretty.substr(start, nl - start) + "\r\n";
      start = nl + 1;
    }
    std::string body =
        ": ping\r\n\r\n"
        "event: message\r\nid: 1\r\ndata: " +
        json{{"jsonrpc", "2.0"},
             {"method", "notifications/message"},
             {"params", {{"level", "info"}, {"data", "working"}}}}
            .dump() +
        "\r\n\r\n"
        "data: " +
        json{{"jsonrpc", "2.0"}, {"id", "srv-1"}, {"method", "ping"}}.dump() + "\r\n\r\n" +
        "data: " + json{{"jsonrpc", "2.0"}, {"id", id.get<long>() + 100}, {"result", "wrong"}}.dump() +
        "\r\n\r\n"
        "data: not json at all\r\n\r\n"
        "event: message\r\nid: 2\r\n" +
        multi + "\r\n: trailing comment\r\n";
    return fakes::response(200, body, {{"content-type", "text/event-stream; charset=utf-8"}});
  };
  EXPECT_EQ(client.call_tool("workitem", {{"action", "retrieve"}}), result);
}

TEST(McpClient, SseHandshakeAndSniffingWithoutContentType) {
  FakeTransport transport;
  FakeMcpServer server;
  server.use_sse = true;
  server.on_request = [](const json& r) { return ok(r, {{"tools", json::array({{{"name", "a"}}})}}); };
  transport.handler = std::ref(server);
  McpClient client(transport, kUrl, auth_headers());
  EXPECT_EQ(client.list_tools().size(), 1u);
  EXPECT_EQ(client.session_id(), "sess-4b1d");

  // No content type: a body starting with '{' is JSON, anything else is read as SSE.
  transport.handler = [](const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    return fakes::response(200, "  " + ok(msg, {{"n", 1}}).dump());
  };
  EXPECT_EQ(client.request("ping", json::object()), (json{{"n", 1}}));
  transport.handler = [](const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    return fakes::response(200, "data: " + ok(msg, {{"n", 2}}).dump() + "\n\n");
  };
  EXPECT_EQ(client.request("ping", json::object()), (json{{"n", 2}}));
}

// ------------------------------------------------------------------------- errors

TEST(McpClient, JsonRpcErrorIsAnHttpKindErrorWithCodeAndMessage) {
  FakeTransport transport;
  FakeMcpServer server;
  server.on_request = [](const json& r) {
    return json{{"jsonrpc", "2.0"},
                {"id", r["id"]},
                {"error", {{"code", -32602}, {"message", "Unknown tool: nope"}, {"data", {{"x", 1}}}}}};
  };
  transport.handler = std::ref(server);
  McpClient client(transport, kUrl, auth_headers());
  try {
    client.call_tool("nope", json::object());
    FAIL() << "no error";
  } catch (const plane::McpRpcError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Http);
    EXPECT_EQ(e.rpc_code(), -32602);
    EXPECT_EQ(e.data(), (json{{"x", 1}}));
    EXPECT_EQ(e.http_status(), 200);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("-32602"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Unknown tool: nope"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tools/call"), std::string::npos) << msg;
  }

  // The same over SSE, and in an HTTP 400 whose body is a JSON-RPC error with id null.
  server.use_sse = true;
  expect_error([&] { client.call_tool("nope", json::object()); }, ErrorKind::Http);
  transport.handler = [](const plane::HttpRequest&) {
    return fakes::response(
        400, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: No valid session ID provided"}})",
        {{"content-type", "application/json"}});
  };
  try {
    client.request("ping", json::object());
    FAIL() << "no error";
  } catch (const plane::McpRpcError& e) {
    EXPECT_EQ(e.rpc_code(), -32600);
    EXPECT_EQ(e.http_status(), 400);
    EXPECT_NE(std::string(e.what()).find("No valid session ID"), std::string::npos);
  }
}

// Confirmed by test/fuzz/mcp_sse_fuzz on a crafted input: {"code":1e300} was cast to long inside
// nlohmann (undefined behaviour, UBSan: "1e+300 is outside the range of representable values of
// type 'long'"; on x86 it came out as LONG_MIN). Non-integral or out-of-range codes are now 0.
TEST(McpClient, JsonRpcErrorCodesThatAreNotLongsBecomeZero) {
  const std::vector<std::pair<std::string, long>> codes = {
      {"1e300", 0},        {"-1e300", 0}, {"-32600.0", -32600}, {"-1.5", 0},
      {"18446744073709551615", 0}, {"\"-32600\"", 0}, {"null", 0}, {"-32601", -32601}};
  for (const auto& [code, want] : codes) {
    FakeTransport transport;
    transport.then_reply(
        200, R"({"jsonrpc":"2.0","id":1,"error":{"code":)" + code + R"(,"message":"no"}})",
        {{"content-type", "application/json"}});
    McpClient client(transport, kUrl, auth_headers());
    try {
      client.initialize();
      ADD_FAILURE() << "no error for code " << code;
    } catch (const plane::McpRpcError& e) {
      EXPECT_EQ(e.rpc_code(), want) << code;
      EXPECT_NE(std::string(e.what()).find("JSON-RPC error " + std::to_string(want)),
                std::string::npos)
          << e.what();
    }
  }
}

// The negotiated protocol version and the session id go back as header values: a server could put
// "\r\nX-Injected: 1" into the next request's headers (test/fuzz/mcp_sse_fuzz's transport checks
// every header value and traps on a crafted input). MCP allows visible ASCII only; anything else
// is refused.
TEST(McpClient, ProtocolVersionAndSessionIdMustBeVisibleAscii) {
  {
    FakeTransport transport;
    transport.then_reply(
        200, R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26\r\nX-Injected: 1"}})",
        {{"content-type", "application/json"}});
    McpClient client(transport, kUrl, auth_headers());
    expect_error([&] { client.initialize(); }, ErrorKind::Parse);
    EXPECT_EQ(transport.sent.size(), 1u);  // no request carried it
    EXPECT_FALSE(client.initialized());
  }
  for (const std::string& sid : {std::string("abc\rdef"), std::string("a b"), std::string("x\0y", 3)}) {
    FakeTransport transport;
    transport.then_reply(200, R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26"}})",
                         {{"content-type", "application/json"}, {"mcp-session-id", sid}});
    McpClient client(transport, kUrl, auth_headers());
    expect_error([&] { client.initialize(); }, ErrorKind::Parse);
    EXPECT_EQ(transport.sent.size(), 1u);
    EXPECT_TRUE(client.session_id().empty());
  }
  // An empty or missing version falls back to ours; a normal one is kept.
  for (const std::string& result : {std::string(R"({"protocolVersion":""})"), std::string("{}")}) {
    FakeTransport transport;
    transport.then_reply(200, R"({"jsonrpc":"2.0","id":1,"result":)" + result + "}",
                         {{"content-type", "application/json"}, {"mcp-session-id", "sess-1"}});
    transport.then_reply(202, "");
    McpClient client(transport, kUrl, auth_headers());
    client.initialize();
    EXPECT_EQ(client.protocol_version(), plane::kMcpProtocolVersion);
    EXPECT_EQ(client.session_id(), "sess-1");
  }
}

// A reply nested 100000 levels deep (200 KB of brackets) overflowed the stack in nlohmann's
// recursive copy (the result) or dump (an HTTP error body quoted by describe_error_body): SIGSEGV
// in the backend. Such JSON is now treated as not JSON.
TEST(McpClient, DeeplyNestedRepliesAreErrorsNotStackOverflows) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string reply = R"({"jsonrpc":"2.0","id":1,"result":{"x":)" + deep + "}}";
  {
    FakeTransport transport;
    transport.then_reply(200, reply, {{"content-type", "application/json"}});
    McpClient client(transport, kUrl, auth_headers());
    expect_error([&] { client.initialize(); }, ErrorKind::Parse);
  }
  {
    FakeTransport transport;
    transport.then_reply(200, "event: message\ndata: " + reply + "\n\n",
                         {{"content-type", "text/event-stream"}});
    McpClient client(transport, kUrl, auth_headers());
    expect_error([&] { client.initialize(); }, ErrorKind::Parse);
  }
  {
    FakeTransport transport;
    transport.then_reply(500, "{\"detail\":" + deep + "}", {{"content-type", "application/json"}});
    McpClient client(transport, kUrl, auth_headers());
    expect_error([&] { client.initialize(); }, ErrorKind::ServerError);
  }
}

TEST(McpClient, ToolErrorResultIsReturnedNotThrown) {
  FakeTransport transport;
  FakeMcpServer server;
  server.use_sse = true;
  const json failure = {{"content", json::array({{{"type", "text"}, {"text", "Work item not found"}}})},
                        {"isError", true}};
  server.on_request = [&](const json& r) { return ok(r, failure); };
  transport.handler = std::ref(server);
  McpClient client(transport, kUrl, auth_headers());
  json result = client.call_tool("workitem", {{"action", "retrieve"}, {"work_item_id", "x"}});
  EXPECT_EQ(result, failure);
  EXPECT_TRUE(plane::mcp_result_is_error(result));
  EXPECT_FALSE(plane::mcp_result_is_error(json{{"isError", "true"}}));
  EXPECT_FALSE(plane::mcp_result_is_error(json::array()));
}

TEST(McpClient, HttpErrorsMapToKindsAndNeverQuoteTheToken) {
  struct Case {
    long status;
    std::string body;
    ErrorKind kind;
  };
  const Case cases[] = {
      {401, std::string(R"({"detail":"Invalid token )") + kPat + "\"}", ErrorKind::Auth},
      {403, R"({"error":"forbidden"})", ErrorKind::Auth},
      {429, "", ErrorKind::RateLimited},
      {500, "Internal Server Error", ErrorKind::ServerError},
      {503, std::string("upstream said Bearer ") + kPat, ErrorKind::ServerError},
      {404, R"({"detail":"Not found."})", ErrorKind::Http},  // no session yet: not an expiry
      {405, "", ErrorKind::Http},
  };
  for (const Case& c : cases) {
    FakeTransport transport;
    transport.then_reply(c.status, c.body);
    McpClient client(transport, kUrl, auth_headers());
    PlaneError e = expect_error([&] { client.initialize(); }, c.kind);
    EXPECT_EQ(e.http_status(), c.status);
    EXPECT_NE(std::string(e.what()).find(std::to_string(c.status)), std::string::npos) << e.what();
    expect_no_pat(e.what());
    EXPECT_FALSE(client.initialized());
  }
  // A JSON-RPC error message that echoes the token is withheld too.
  FakeTransport transport;
  transport.then_reply(200, json{{"jsonrpc", "2.0"},
                                 {"id", 1},
                                 {"error", {{"code", -32000}, {"message", std::string("bad ") + kPat}}}}
                                .dump(),
                       {{"content-type", "application/json"}});
  McpClient client(transport, kUrl, auth_headers());
  PlaneError e = expect_error([&] { client.initialize(); }, ErrorKind::Http);
  expect_no_pat(e.what());
}

TEST(McpClient, TransportFailuresPropagate) {
  FakeTransport transport;
  transport.then_throw(ErrorKind::Transport, "Couldn't connect to server");
  McpClient client(transport, kUrl, auth_headers());
  expect_error([&] { client.initialize(); }, ErrorKind::Transport);
  transport.then_throw(ErrorKind::Timeout, "request timed out after 60000 ms");
  expect_error([&] { client.list_tools(); }, ErrorKind::Timeout);
  expect_error([&] { McpClient bad(transport, "mcp.plane.so/mcp", auth_headers()); },
               ErrorKind::Config);
}

TEST(McpClient, RepliesWithoutOurResponseAreParseErrors) {
  const std::vector<std::pair<std::string, std::string>> replies = {
      {"application/json", "{not json"},
      {"application/json", R"({"jsonrpc":"2.0","id":999,"result":{}})"},
      {"application/json", R"({"jsonrpc":"2.0","id":1})"},
      {"text/event-stream", ": nothing but comments\n\n"},
      {"text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"},
      {"application/json", ""},
  };
  for (const auto& [type, body] : replies) {
    FakeTransport transport;
    transport.then_reply(200, body, {{"content-type", type}});
    McpClient client(transport, kUrl, auth_headers());
    expect_error([&] { client.initialize(); }, ErrorKind::Parse);
  }
  // A 202 (no body) to a request is not an answer either.
  FakeTransport transport;
  transport.then_reply(202, "");
  McpClient client(transport, kUrl, auth_headers());
  expect_error([&] { client.initialize(); }, ErrorKind::Parse);
}

TEST(McpClient, ExpiredSessionIsRenewedOnceAndTheRequestRepeated) {
  FakeTransport transport;
  FakeMcpServer server;
  server.on_request = [](const json& r) { return ok(r, {{"pong", true}}); };
  bool forgotten = false;
  int expired_answers = 0;
  transport.handler = [&](const plane::HttpRequest& req) {
    auto sid = std::find_if(req.headers.begin(), req.headers.end(),
                            [](const auto& h) { return h.first == "Mcp-Session-Id"; });
    if (forgotten && sid != req.headers.end() && sid->second == "sess-old") {
      ++expired_answers;
      return fakes::response(
          404, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}})");
    }
    return server(req);
  };
  McpClient client(transport, kUrl, auth_headers());
  server.session = "sess-old";
  client.initialize();
  EXPECT_EQ(client.session_id(), "sess-old");
  // The server forgets the session (e.g. it restarted): our next request gets 404.
  forgotten = true;
  server.session = "sess-new";
  EXPECT_EQ(client.request("ping", json::object()), (json{{"pong", true}}));
  EXPECT_EQ(client.session_id(), "sess-new");
  EXPECT_EQ(expired_answers, 1);
  ASSERT_EQ(server.received.size(), 5u);  // initialize, initialized, initialize, initialized, ping
  EXPECT_EQ(server.received[2]["method"], "initialize");
  EXPECT_EQ(server.received[4]["method"], "ping");
  EXPECT_EQ(transport.header_of(transport.sent.size() - 1, "Mcp-Session-Id"), "sess-new");
}

TEST(McpClient, ExpiredSessionTwiceInARowIsReported) {
  FakeTransport transport;
  FakeMcpServer server;
  server.on_request = [](const json& r) { return ok(r, json::object()); };
  transport.handler = [&](const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    if (msg["method"] == "initialize" || msg["method"] == "notifications/initialized") {
      return server(req);
    }
    return fakes::response(404, "");
  };
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();
  PlaneError e = expect_error([&] { client.request("ping", json::object()); }, ErrorKind::Http);
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_EQ(server.received.size(), 4u);  // one renewal, not a loop
}

// ------------------------------------------------------------------------- ending a session

// The fake server, also answering DELETE (which has no JSON body) with `delete_status`.
struct EndableServer {
  FakeMcpServer server;
  long delete_status = 200;
  int deletes = 0;
  plane::HttpResponse operator()(const plane::HttpRequest& req) {
    if (req.method == "DELETE") {
      ++deletes;
      return fakes::response(delete_status, "");
    }
    return server(req);
  }
};

TEST(McpClient, EndSessionSendsDeleteWithTheSessionId) {
  FakeTransport transport;
  EndableServer endable;
  endable.server.on_request = [](const json& r) { return ok(r, json::object()); };
  transport.handler = std::ref(endable);
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();
  ASSERT_EQ(client.session_id(), "sess-4b1d");
  client.end_session();

  const size_t last = transport.sent.size() - 1;
  const plane::HttpRequest& del = transport.sent[last].request;
  EXPECT_EQ(del.method, "DELETE");
  EXPECT_EQ(del.url, kUrl);
  EXPECT_TRUE(del.body.empty());
  EXPECT_LE(del.timeout_ms, 10000);  // a courtesy: never holds the caller long
  EXPECT_EQ(transport.header_of(last, "Mcp-Session-Id"), "sess-4b1d");
  EXPECT_EQ(transport.header_of(last, "Mcp-Protocol-Version"), "2025-03-26");
  EXPECT_EQ(transport.header_of(last, "Authorization"), std::string("Bearer ") + kPat);
  EXPECT_EQ(transport.header_of(last, "X-Workspace-slug"), "acme");
  EXPECT_EQ(endable.deletes, 1);
  EXPECT_EQ(client.session_id(), "");
  EXPECT_FALSE(client.initialized());

  // Ended twice: nothing more to send. A later request starts a new session.
  client.end_session();
  EXPECT_EQ(endable.deletes, 1);
  client.request("ping", json::object());
  EXPECT_EQ(endable.server.received.at(2)["method"], "initialize");
  EXPECT_EQ(client.session_id(), "sess-4b1d");
}

TEST(McpClient, EndSessionWithoutASessionSendsNothing) {
  FakeTransport transport;
  EndableServer endable;
  endable.server.on_request = [](const json& r) { return ok(r, json::object()); };
  transport.handler = std::ref(endable);
  McpClient fresh(transport, kUrl, auth_headers());
  fresh.end_session();
  EXPECT_TRUE(transport.sent.empty());

  endable.server.session.clear();  // a server that keeps no sessions
  transport.handler = [&](const plane::HttpRequest& req) {
    plane::HttpResponse resp = endable(req);
    resp.headers.erase(std::remove_if(resp.headers.begin(), resp.headers.end(),
                                      [](const auto& h) { return h.first == "mcp-session-id"; }),
                       resp.headers.end());
    return resp;
  };
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();
  const size_t before = transport.sent.size();
  client.end_session();
  EXPECT_EQ(transport.sent.size(), before);
  EXPECT_EQ(endable.deletes, 0);
}

TEST(McpClient, EndSessionEndsItWhateverTheAnswer) {
  FakeTransport transport;
  EndableServer endable;
  endable.delete_status = 405;  // a server that does not let clients end sessions
  endable.server.on_request = [](const json& r) { return ok(r, json::object()); };
  transport.handler = std::ref(endable);
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();
  EXPECT_NO_THROW(client.end_session());
  EXPECT_EQ(client.session_id(), "");

  // A transport failure propagates, and the session is over on our side all the same.
  client.initialize();
  transport.then_throw(ErrorKind::Timeout, "timed out");
  expect_error([&] { client.end_session(); }, ErrorKind::Timeout);
  EXPECT_EQ(client.session_id(), "");
  EXPECT_FALSE(client.initialized());
}

// ------------------------------------------------------------------------- 400 for a lost session

TEST(McpClient, A400ToARequestWithASessionStartsANewSessionOnceLikeA404) {
  FakeTransport transport;
  FakeMcpServer server;
  server.on_request = [](const json& r) { return ok(r, {{"pong", true}}); };
  int refusals = 0;
  bool forgotten = false;
  transport.handler = [&](const plane::HttpRequest& req) {
    auto sid = std::find_if(req.headers.begin(), req.headers.end(),
                            [](const auto& h) { return h.first == "Mcp-Session-Id"; });
    if (forgotten && sid != req.headers.end() && sid->second == "sess-old") {
      ++refusals;  // older TypeScript SDK servers answer an unknown session so
      return fakes::response(
          400, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}})");
    }
    return server(req);
  };
  McpClient client(transport, kUrl, auth_headers());
  server.session = "sess-old";
  client.initialize();
  forgotten = true;
  server.session = "sess-new";
  EXPECT_EQ(client.call_tool("ping_tool", json()), (json{{"pong", true}}));
  EXPECT_EQ(refusals, 1);
  EXPECT_EQ(client.session_id(), "sess-new");
  ASSERT_EQ(server.received.size(), 5u);  // initialize, initialized, initialize, initialized, tools/call
  EXPECT_EQ(server.received[2]["method"], "initialize");
  EXPECT_EQ(server.received[4]["method"], "tools/call");
}

TEST(McpClient, AGenuine400IsReportedAfterOneNewSession) {
  FakeTransport transport;
  FakeMcpServer server;
  transport.handler = [&](const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    if (msg["method"] == "initialize" || msg["method"] == "notifications/initialized") return server(req);
    return fakes::response(400, json{{"jsonrpc", "2.0"}, {"id", msg["id"]},
                                     {"error", {{"code", -32602}, {"message", "Invalid params"}}}}
                                    .dump());
  };
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();
  PlaneError e = expect_error([&] { client.request("tools/call", json{{"name", "x"}}); }, ErrorKind::Http);
  EXPECT_EQ(e.http_status(), 400);
  EXPECT_NE(std::string(e.what()).find("Invalid params"), std::string::npos) << e.what();
  EXPECT_EQ(transport.sent.size(), 2u + 1u + 2u + 1u);  // one renewal, not a loop
}

TEST(McpClient, A400WithoutASessionIsNotRetried) {
  FakeTransport transport;
  FakeMcpServer server;
  server.session.clear();
  transport.handler = [&](const plane::HttpRequest& req) {
    json msg = json::parse(req.body);
    plane::HttpResponse resp = (msg["method"] == "ping")
                                   ? fakes::response(400, R"({"detail": "bad request"})")
                                   : server(req);
    resp.headers.erase(std::remove_if(resp.headers.begin(), resp.headers.end(),
                                      [](const auto& h) { return h.first == "mcp-session-id"; }),
                       resp.headers.end());
    return resp;
  };
  McpClient client(transport, kUrl, auth_headers());
  client.initialize();
  PlaneError e = expect_error([&] { client.request("ping", json::object()); }, ErrorKind::Http);
  EXPECT_EQ(e.http_status(), 400);
  EXPECT_EQ(transport.sent.size(), 3u);  // initialize, initialized, ping: no new session
}

// ------------------------------------------------------------------------- mcp_result_text

TEST(McpResultText, JoinsTheTextPartsAndSkipsTheRest) {
  const json result = {{"content",
                        {{{"type", "text"}, {"text", "first"}},
                         {{"type", "image"}, {"data", "aGk="}, {"mimeType", "image/png"}},
                         {{"type", "text"}, {"text", 42}},
                         {{"type", "text"}},
                         "not an object",
                         {{"type", "text"}, {"text", "second\nline"}}}},
                       {"isError", true}};
  EXPECT_EQ(plane::mcp_result_text(result, 1000), "first\nsecond\nline");
}

TEST(McpResultText, CutOnACharacterBoundaryWithTheEllipsisCounted) {
  const json result = {{"content", {{{"type", "text"}, {"text", "Arbeitsp\xC3\xA4" "ckchen nicht gefunden"}}}}};
  const std::string cut = plane::mcp_result_text(result, 12);
  EXPECT_EQ(cut, "Arbeitsp...");  // "ä" would not fit whole with the ellipsis
  EXPECT_LE(cut.size(), 12u);
  EXPECT_EQ(plane::mcp_result_text(result, 13), "Arbeitsp\xC3\xA4...");
  // Many parts: stops collecting once over the budget, and still cuts to it.
  json many = {{"content", json::array()}};
  for (int i = 0; i < 1000; ++i) many["content"].push_back({{"type", "text"}, {"text", std::string(100, 'x')}});
  EXPECT_EQ(plane::mcp_result_text(many, 50).size(), 50u);
}

TEST(McpResultText, NothingToSayIsEmpty) {
  EXPECT_EQ(plane::mcp_result_text(json::object(), 100), "");
  EXPECT_EQ(plane::mcp_result_text(json{{"content", "text"}}, 100), "");
  EXPECT_EQ(plane::mcp_result_text(json::array(), 100), "");
  EXPECT_EQ(plane::mcp_result_text(nullptr, 100), "");
  EXPECT_EQ(plane::mcp_result_text(json{{"content", {{{"type", "text"}, {"text", "abc"}}}}}, 0), "");
}

// ------------------------------------------------------------------------- tools/list

TEST(McpClient, ListToolsFollowsNextCursor) {
  FakeTransport transport;
  FakeMcpServer server;
  server.use_sse = true;
  std::vector<json> cursors;
  server.on_request = [&](const json& r) {
    EXPECT_EQ(r["method"], "tools/list");
    const json params = r.value("params", json::object());
    cursors.push_back(params.value("cursor", json()));
    if (!params.contains("cursor")) {
      return ok(r, {{"tools", json::array({{{"name", "workitem"}}, {{"name", "project"}}})},
                    {"nextCursor", "c/2"}});
    }
    if (params["cursor"] == "c/2") {
      return ok(r, {{"tools", json::array({{{"name", "cycle"}}})}, {"nextCursor", "c3"}});
    }
    return ok(r, {{"tools", json::array({{{"name", "get_me"}}})}, {"nextCursor", ""}});
  };
  transport.handler = std::ref(server);
  McpClient client(transport, kUrl, auth_headers());
  json tools = client.list_tools();
  ASSERT_EQ(tools.size(), 4u);
  EXPECT_EQ(tools[0]["name"], "workitem");
  EXPECT_EQ(tools[3]["name"], "get_me");
  EXPECT_EQ(cursors, (std::vector<json>{json(), "c/2", "c3"}));

  // A server that hands back the same cursor forever is stopped.
  server.on_request = [](const json& r) {
    return ok(r, {{"tools", json::array()}, {"nextCursor", "again"}});
  };
  expect_error([&] { client.list_tools(); }, ErrorKind::Parse);
  server.on_request = [](const json& r) { return ok(r, {{"tools", "not an array"}}); };
  expect_error([&] { client.list_tools(); }, ErrorKind::Parse);
}

// ------------------------------------------------------------------------- policy

TEST(McpPolicy, AnnotationsDecideFirst) {
  const json read_only = {{"name", "workitem"}, {"annotations", {{"readOnlyHint", true}}}};
  EXPECT_FALSE(plane::tool_is_mutating(read_only, "update"));  // the server says read-only
  EXPECT_FALSE(plane::tool_is_mutating(read_only, ""));
  const json mixed = {{"name", "workitem"},
                      {"annotations", {{"readOnlyHint", false}, {"destructiveHint", true}}}};
  EXPECT_FALSE(plane::tool_is_mutating(mixed, "list"));
  EXPECT_FALSE(plane::tool_is_mutating(mixed, "retrieve_by_identifier"));
  EXPECT_TRUE(plane::tool_is_mutating(mixed, "update"));
  EXPECT_TRUE(plane::tool_is_mutating(mixed, "delete"));
  EXPECT_TRUE(plane::tool_is_mutating(mixed, ""));
  // readOnlyHint false without an action is a write even for a get_ name.
  EXPECT_TRUE(plane::tool_is_mutating(
      json{{"name", "get_thing"}, {"annotations", {{"readOnlyHint", false}}}}, ""));
  EXPECT_TRUE(plane::tool_is_mutating(
      json{{"name", "get_thing"}, {"annotations", {{"destructiveHint", true}}}}, ""));
  // Non-boolean hints are ignored.
  EXPECT_FALSE(plane::tool_is_mutating(
      json{{"name", "get_me"}, {"annotations", {{"readOnlyHint", "yes"}}}}, ""));
}

TEST(McpPolicy, PythonServerReadActions) {
  const json tool = {{"name", "project"}};
  for (const char* action :
       {"list", "retrieve", "list_archived", "retrieve_by_identifier", "search", "count",
        "worklog_summary", "get_features", "list_workitems", "list_workitem_pages", "me",
        "list_workspace", "list_project", "list_roles", "retrieve_role", "get_pql_reference"}) {
    EXPECT_FALSE(plane::tool_is_mutating(tool, action)) << action;
  }
  for (const char* action : {"create", "update", "delete", "archive", "unarchive", "manage_labels",
                             "transfer_workitems", "complete", "add_workitems", "LIST", "list ",
                             "anything_new"}) {
    EXPECT_TRUE(plane::tool_is_mutating(tool, action)) << action;
  }
}

TEST(McpPolicy, NodeServerNamesAndFailSafeDefault) {
  for (const char* name :
       {"get_user", "get_workspace_members", "get_projects", "list_project_issues",
        "get_issue_using_readable_identifier", "get_issue_comments", "list_issue_types",
        "get_issue_type", "list_states", "get_state", "list_labels", "get_label", "list_modules",
        "get_module", "list_module_issues", "list_cycles", "get_cycle", "list_cycle_issues",
        "get_issue_worklogs", "get_total_worklogs", "get_pql_reference", "get_me"}) {
    EXPECT_FALSE(plane::tool_is_mutating(json{{"name", name}}, "")) << name;
  }
  for (const char* name :
       {"create_project", "create_issue", "update_issue", "add_issue_comment", "create_issue_type",
        "update_issue_type", "delete_issue_type", "create_state", "update_state", "delete_state",
        "create_label", "update_label", "delete_label", "create_module", "update_module",
        "delete_module", "add_module_issues", "delete_module_issue", "create_cycle",
        "update_cycle", "delete_cycle", "add_cycle_issues", "delete_cycle_issue",
        "transfer_cycle_issues", "create_worklog", "update_worklog", "delete_worklog"}) {
    EXPECT_TRUE(plane::tool_is_mutating(json{{"name", name}}, "")) << name;
  }
  // Unknown tools, odd descriptors: mutating.
  EXPECT_TRUE(plane::tool_is_mutating(json{{"name", "workitem"}}, ""));
  EXPECT_TRUE(plane::tool_is_mutating(json{{"name", "retrieve_thing"}}, ""));
  EXPECT_TRUE(plane::tool_is_mutating(json::object(), ""));
  EXPECT_TRUE(plane::tool_is_mutating(json(), ""));
  EXPECT_TRUE(plane::tool_is_mutating(json{{"name", 5}}, ""));
  EXPECT_TRUE(plane::tool_is_mutating(json{{"name", "GET_USER"}}, ""));
  // A bare name string is accepted as a descriptor.
  EXPECT_FALSE(plane::tool_is_mutating(json("list_cycles"), ""));
}

}  // namespace
