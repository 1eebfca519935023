// Unit tests for src/core/oauth: the authorize URL, the token endpoint's three
// grants as form bodies, the bot token's Basic header, refresh-token rotation, error mapping, and
// that no client secret, code or token ever reaches an error message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>

#include "core/errors.hpp"
#include "core/oauth.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakeTransport;
using nlohmann::json;
using plane::ErrorKind;
using plane::PlaneError;

const char* const kBase = "https://api.plane.so";
const char* const kClientId = "plane_client_id";
const char* const kSecret = "plane_s3cret/+=";
const char* const kCode = "auth-code-0123456789abcdef";
const char* const kRedirect = "https://db.example.com/oauth/callback?tenant=a&b=c d";
const char* const kAccess = "pln_access_11111111111111111111";
const char* const kRefresh1 = "pln_refresh_aaaaaaaaaaaaaaaaaaaa";
const char* const kRefresh2 = "pln_refresh_bbbbbbbbbbbbbbbbbbbb";
const char* const kBot = "pln_bot_cccccccccccccccccccccccc";

// application/x-www-form-urlencoded body → map (each value percent-decoded; "+" is not used).
std::map<std::string, std::string> form(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    const std::string kv = body.substr(pos, amp - pos);
    const auto eq = kv.find('=');
    EXPECT_NE(eq, std::string::npos) << kv;
    if (!kv.empty() && eq != std::string::npos) {
      EXPECT_EQ(out.count(kv.substr(0, eq)), 0u) << "field sent twice: " << kv;
      out[fakes::percent_decode(kv.substr(0, eq))] = fakes::percent_decode(kv.substr(eq + 1));
    }
    pos = amp + 1;
  }
  return out;
}

std::string token_body(const std::string& access, const std::string& refresh,
                       long expires_in = 86400) {
  json doc = {{"access_token", access},
              {"token_type", "Bearer"},
              {"expires_in", expires_in},
              {"scope", "projects:read projects.work_items:read"}};
  if (!refresh.empty()) doc["refresh_token"] = refresh;
  return doc.dump();
}

using fakes::expect_error;

void expect_no_secrets(const std::string& message) {
  for (const char* secret : {kSecret, kCode, kAccess, kRefresh1, kRefresh2, kBot}) {
    EXPECT_EQ(message.find(secret), std::string::npos) << "'" << secret << "' in: " << message;
  }
}

// ------------------------------------------------------------------------- authorize URL

TEST(OAuthAuthorizeUrl, EncodesEveryValueInPlanesOrder) {
  const std::string url = plane::oauth_authorize_url(
      "https://api.plane.so/", "client id&1", kRedirect, "projects:read wiki.pages:read",
      "st/ate+=?");
  EXPECT_EQ(url,
            "https://api.plane.so/auth/o/authorize-app/?client_id=client%20id%261"
            "&response_type=code"
            "&redirect_uri=https%3A%2F%2Fdb.example.com%2Foauth%2Fcallback%3Ftenant%3Da%26b%3Dc%20d"
            "&state=st%2Fate%2B%3D%3F"
            "&scope=projects%3Aread%20wiki.pages%3Aread");
  const auto parsed = fakes::parse_url(url, "https://api.plane.so/auth/o/authorize-app/");
  EXPECT_EQ(parsed.query.at("redirect_uri"), kRedirect);
  EXPECT_EQ(parsed.query.at("scope"), "projects:read wiki.pages:read");
  EXPECT_EQ(parsed.query.at("state"), "st/ate+=?");
}

TEST(OAuthAuthorizeUrl, LeavesOutEmptyScopeAndStateAndRefusesBadInput) {
  EXPECT_EQ(plane::oauth_authorize_url("http://localhost:8000", "c", "http://x/cb", "", ""),
            "http://localhost:8000/auth/o/authorize-app/?client_id=c&response_type=code"
            "&redirect_uri=http%3A%2F%2Fx%2Fcb");
  expect_error([] { plane::oauth_authorize_url("ftp://x", "c", "http://x/cb", "", "s"); },
               ErrorKind::Config);
  expect_error([] { plane::oauth_authorize_url(kBase, "", "http://x/cb", "", "s"); },
               ErrorKind::Config);
  expect_error([] { plane::oauth_authorize_url(kBase, "c", "", "", "s"); }, ErrorKind::Config);
}

TEST(OAuthState, RandomStateTokensAre64HexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string s = plane::random_state_token();
    ASSERT_EQ(s.size(), 64u);
    for (char c : s) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << s;
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 50u);
}

// ------------------------------------------------------------------------- code exchange

TEST(OAuthExchange, PostsTheAuthorizationCodeGrantAsAForm) {
  FakeTransport transport;
  transport.then_reply(200, token_body(kAccess, kRefresh1),
                       {{"content-type", "application/json"}});
  plane::OAuthTokens tokens =
      plane::exchange_code(transport, "https://api.plane.so/", kClientId, kSecret, kCode, kRedirect);
  EXPECT_EQ(tokens.access_token, kAccess);
  EXPECT_EQ(tokens.refresh_token, kRefresh1);
  EXPECT_EQ(tokens.token_type, "Bearer");
  EXPECT_EQ(tokens.expires_in, 86400);
  EXPECT_EQ(tokens.scope, "projects:read projects.work_items:read");

  ASSERT_EQ(transport.sent.size(), 1u);
  const plane::HttpRequest& req = transport.sent[0].request;
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://api.plane.so/auth/o/token/");
  EXPECT_EQ(transport.header_of(0, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_FALSE(transport.header_of(0, "Authorization").has_value());
  // The request the transport saw is wiped after use; the copy it recorded is what was sent.
  const auto fields = form(req.body);
  EXPECT_EQ(fields, (std::map<std::string, std::string>{{"grant_type", "authorization_code"},
                                                        {"code", kCode},
                                                        {"client_id", kClientId},
                                                        {"client_secret", kSecret},
                                                        {"redirect_uri", kRedirect}}));
  EXPECT_NE(req.body.find("client_secret=plane_s3cret%2F%2B%3D"), std::string::npos) << req.body;
}

TEST(OAuthExchange, ToleratesLooseTokenShapes) {
  FakeTransport transport;
  transport.then_reply(200, R"({"access_token":"a1234","expires_in":"3600","scope":["x:read","y:read"]})");
  plane::OAuthTokens t = plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect);
  EXPECT_EQ(t.token_type, "Bearer");
  EXPECT_EQ(t.expires_in, 3600);
  EXPECT_EQ(t.scope, "x:read y:read");
  EXPECT_TRUE(t.refresh_token.empty());

  transport.then_reply(200, R"({"access_token":"a1234","expires_in":12.7,"token_type":"bearer","scope":null})");
  plane::OAuthTokens u = plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect);
  EXPECT_EQ(u.expires_in, 12);
  EXPECT_EQ(u.token_type, "bearer");
  EXPECT_EQ(u.scope, "");

  plane::OAuthTokens moved = std::move(u);
  EXPECT_EQ(moved.access_token, "a1234");
}

TEST(OAuthExchange, MalformedTokenBodiesAreParseErrorsWithoutTokens) {
  const std::string bodies[] = {
      "<html>502 Bad Gateway</html>",
      "[1,2]",
      std::string(R"({"refresh_token":")") + kRefresh1 + R"(","token_type":"Bearer"})",
      std::string(R"({"access_token":"")") + "}",
      std::string(R"({"access_token":")") + kAccess + R"(","expires_in":"soon"})",
      std::string(R"({"access_token":")") + kAccess + R"(","expires_in":-5})",
      std::string(R"({"access_token":")") + kAccess + R"(","refresh_token":42})",
      std::string(R"({"access_token":")") + kAccess + R"(",)",
  };
  for (const std::string& body : bodies) {
    FakeTransport transport;
    transport.then_reply(200, body);
    PlaneError e = expect_error(
        [&] { plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect); },
        ErrorKind::Parse);
    expect_no_secrets(e.what());
  }
}

TEST(OAuthExchange, InvalidGrantIsAnAuthErrorThatNamesNoSecret) {
  for (long status : {400L, 401L}) {
    FakeTransport transport;
    // A hostile description that quotes the code and the secret back.
    transport.then_reply(status, json{{"error", "invalid_grant"},
                                      {"error_description",
                                       std::string("Invalid code ") + kCode + " for " + kSecret}}
                                     .dump());
    PlaneError e = expect_error(
        [&] { plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect); },
        ErrorKind::Auth);
    EXPECT_EQ(e.http_status(), status);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
    EXPECT_NE(msg.find("invalid_grant"), std::string::npos) << msg;
    EXPECT_NE(msg.find("authorization code"), std::string::npos) << msg;
    expect_no_secrets(msg);
  }
}

TEST(OAuthExchange, OtherErrorsMapToTheirKindsWithoutSecrets) {
  struct Case {
    long status;
    std::string body;
    ErrorKind kind;
    std::string expect_in_message;
  };
  const Case cases[] = {
      {401, R"({"error":"invalid_client"})", ErrorKind::Auth, "invalid_client"},
      {400, R"({"error":"invalid_client","error_description":"bad )" + std::string(kSecret) + "\"}",
       ErrorKind::Auth, "invalid_client"},
      {403, R"({"detail":"Forbidden"})", ErrorKind::Auth, "Forbidden"},
      {400, R"({"error":"unsupported_grant_type","error_description":"Nope"})", ErrorKind::Http,
       "unsupported_grant_type: Nope"},
      {429, R"({"error_code":5900})", ErrorKind::RateLimited, "429"},
      {503, "<html>upstream " + std::string(kCode) + "</html>", ErrorKind::ServerError, "503"},
      {500, R"({"error":"server_error"})", ErrorKind::ServerError, "server_error"},
      {404, R"({"detail":"Not found."})", ErrorKind::Http, "Not found."},
  };
  for (const Case& c : cases) {
    FakeTransport transport;
    transport.then_reply(c.status, c.body);
    PlaneError e = expect_error(
        [&] { plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect); },
        c.kind);
    EXPECT_EQ(e.http_status(), c.status);
    EXPECT_NE(std::string(e.what()).find(c.expect_in_message), std::string::npos) << e.what();
    expect_no_secrets(e.what());
  }
}

// Found by test/fuzz/oauth_fuzz: the OAuth `error` code passed the character check
// ([A-Za-z0-9_.-]) and was quoted without the secret check that the description gets, so a server
// echoing the submitted code, refresh token or bearer token as its error code put it in the message.
TEST(OAuthExchange, ErrorCodeThatQuotesASecretIsLeftOut) {
  for (long status : {400L, 401L, 404L, 500L}) {
    FakeTransport transport;
    transport.then_reply(status, json{{"error", std::string("bad_") + kCode}}.dump());
    PlaneError e = expect_error(
        [&] { plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect); },
        status == 401 ? ErrorKind::Auth : status == 500 ? ErrorKind::ServerError : ErrorKind::Http);
    expect_no_secrets(e.what());
    EXPECT_NE(std::string(e.what()).find("HTTP " + std::to_string(status)), std::string::npos);
  }
  {
    FakeTransport transport;
    transport.then_reply(400, json{{"error", kRefresh1}, {"error_description", "spent"}}.dump());
    PlaneError e = expect_error(
        [&] { plane::refresh_tokens(transport, kBase, kClientId, kSecret, kRefresh1); },
        ErrorKind::Http);
    expect_no_secrets(e.what());
    EXPECT_NE(std::string(e.what()).find("spent"), std::string::npos) << e.what();
  }
  {
    FakeTransport transport;
    transport.then_reply(401, json{{"error", kBot}}.dump());
    PlaneError e = expect_error(
        [&] { plane::app_installation_workspace(transport, kBase, kBot, "i"); }, ErrorKind::Auth);
    expect_no_secrets(e.what());
  }
}

// A token answer nested 100000 levels deep (200 KB of brackets) overflowed the stack in
// wipe_json_strings (SIGSEGV, which takes the whole Postgres cluster through crash recovery); so did
// an installation answer in nlohmann's recursive copy. Such answers are now Parse errors.
TEST(OAuthExchange, DeeplyNestedAnswersAreParseErrorsNotStackOverflows) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  {
    FakeTransport transport;
    transport.then_reply(200, "{\"access_token\":\"a\",\"x\":" + deep + "}");
    PlaneError e = expect_error(
        [&] { plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect); },
        ErrorKind::Parse);
    EXPECT_NE(std::string(e.what()).find("deeper"), std::string::npos) << e.what();
  }
  {
    FakeTransport transport;
    transport.then_reply(200, deep);
    expect_error([&] { plane::refresh_tokens(transport, kBase, kClientId, kSecret, kRefresh1); },
                 ErrorKind::Parse);
  }
  {
    FakeTransport transport;
    transport.then_reply(400, "{\"error\":\"invalid_request\",\"detail\":" + deep + "}");
    expect_error([&] { plane::bot_token(transport, kBase, kClientId, kSecret, "i", ""); },
                 ErrorKind::Http);
  }
  {
    FakeTransport transport;
    transport.then_reply(200, "{\"id\":\"i\",\"workspace_detail\":{\"slug\":\"acme\"},\"x\":" + deep + "}");
    expect_error([&] { plane::app_installation_workspace(transport, kBase, kBot, "i"); },
                 ErrorKind::Parse);
  }
  // Ordinary nesting is still fine.
  FakeTransport transport;
  transport.then_reply(200, json{{"access_token", kAccess}, {"x", json::parse(std::string(100, '[') + std::string(100, ']'))}}.dump());
  EXPECT_EQ(plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect).access_token,
            kAccess);
}

TEST(OAuthExchange, TransportErrorsPropagateAndEmptyInputsAreConfigErrors) {
  FakeTransport transport;
  transport.then_throw(ErrorKind::Timeout, "request timed out after 30000 ms");
  expect_error([&] { plane::exchange_code(transport, kBase, kClientId, kSecret, kCode, kRedirect); },
               ErrorKind::Timeout);
  expect_error([&] { plane::exchange_code(transport, kBase, kClientId, "", kCode, kRedirect); },
               ErrorKind::Config);
  expect_error([&] { plane::exchange_code(transport, kBase, kClientId, kSecret, "", kRedirect); },
               ErrorKind::Config);
  expect_error([&] { plane::exchange_code(transport, "api.plane.so", kClientId, kSecret, kCode,
                                          kRedirect); },
               ErrorKind::Config);
  EXPECT_EQ(transport.sent.size(), 1u);  // the config errors sent nothing
}

// ------------------------------------------------------------------------- refresh

TEST(OAuthRefresh, RotationReturnsTheNewRefreshTokenAndTheOldOneIsRefused) {
  FakeTransport transport;
  std::set<std::string> live = {kRefresh1};
  int issued = 0;
  transport.handler = [&](const plane::HttpRequest& req) {
    auto fields = form(req.body);
    EXPECT_EQ(fields.at("grant_type"), "refresh_token");
    EXPECT_EQ(fields.at("client_id"), kClientId);
    EXPECT_EQ(fields.at("client_secret"), kSecret);
    EXPECT_EQ(fields.count("redirect_uri"), 0u);
    if (live.erase(fields.at("refresh_token")) == 0) {
      return fakes::response(400, R"({"error":"invalid_grant"})");
    }
    const std::string next = ++issued == 1 ? kRefresh2 : "pln_refresh_third_000000000";
    live.insert(next);
    return fakes::response(200, token_body(std::string(kAccess) + std::to_string(issued), next, 7200));
  };

  plane::OAuthTokens first = plane::refresh_tokens(transport, kBase, kClientId, kSecret, kRefresh1);
  EXPECT_EQ(first.refresh_token, kRefresh2);
  EXPECT_EQ(first.access_token, std::string(kAccess) + "1");
  EXPECT_EQ(first.expires_in, 7200);
  EXPECT_EQ(form(transport.sent[0].request.body).at("refresh_token"), kRefresh1);

  // Reusing the spent token is refused, and the message quotes neither token nor secret.
  PlaneError e = expect_error(
      [&] { plane::refresh_tokens(transport, kBase, kClientId, kSecret, kRefresh1); },
      ErrorKind::Auth);
  EXPECT_NE(std::string(e.what()).find("refresh token grant"), std::string::npos) << e.what();
  expect_no_secrets(e.what());

  plane::OAuthTokens second = plane::refresh_tokens(transport, kBase, kClientId, kSecret, kRefresh2);
  EXPECT_EQ(second.refresh_token, "pln_refresh_third_000000000");
  EXPECT_EQ(transport.sent.size(), 3u);
}

// ------------------------------------------------------------------------- bot token

TEST(OAuthBotToken, UsesClientCredentialsWithBasicAuth) {
  FakeTransport transport;
  transport.then_reply(200, token_body(kBot, ""));
  plane::OAuthTokens bot =
      plane::bot_token(transport, kBase, kClientId, kSecret, "inst-1234", "projects:read");
  EXPECT_EQ(bot.access_token, kBot);
  EXPECT_TRUE(bot.refresh_token.empty());

  const plane::HttpRequest& req = transport.sent[0].request;
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://api.plane.so/auth/o/token/");
  // base64("plane_client_id:plane_s3cret/+=") (Python's base64.b64encode)
  EXPECT_EQ(transport.header_of(0, "Authorization"),
            "Basic cGxhbmVfY2xpZW50X2lkOnBsYW5lX3MzY3JldC8rPQ==");
  EXPECT_EQ(form(req.body), (std::map<std::string, std::string>{
                                {"grant_type", "client_credentials"},
                                {"app_installation_id", "inst-1234"},
                                {"scope", "projects:read"}}));
  EXPECT_EQ(req.body.find(kSecret), std::string::npos);

  // Without a scope the parameter is left out; a refusal names no secret.
  transport.then_reply(401, R"({"error":"invalid_client","error_description":"Bad credentials"})");
  PlaneError e = expect_error(
      [&] { plane::bot_token(transport, kBase, kClientId, kSecret, "inst-1234", ""); },
      ErrorKind::Auth);
  EXPECT_EQ(form(transport.sent[1].request.body),
            (std::map<std::string, std::string>{{"grant_type", "client_credentials"},
                                                {"app_installation_id", "inst-1234"}}));
  expect_no_secrets(e.what());
  EXPECT_EQ(std::string(e.what()).find("cGxhbmVf"), std::string::npos) << e.what();
}

// ------------------------------------------------------------------------- app installation

TEST(OAuthAppInstallation, ReturnsTheWorkspaceSlugOfTheMatchingInstallation) {
  FakeTransport transport;
  transport.then_reply(200, json::array({
                                {{"id", "other"}, {"workspace_detail", {{"slug", "wrong"}}}},
                                {{"id", "inst 1"},
                                 {"workspace", "ws-uuid"},
                                 {"workspace_detail", {{"name", "Acme"}, {"slug", "acme"}}},
                                 {"app_bot", "bot-uuid"},
                                 {"status", "installed"}},
                            })
                                .dump());
  EXPECT_EQ(plane::app_installation_workspace(transport, "https://api.plane.so/", kBot, "inst 1"),
            "acme");
  const plane::HttpRequest& req = transport.sent[0].request;
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.url, "https://api.plane.so/auth/o/app-installation/?id=inst%201");
  EXPECT_EQ(transport.header_of(0, "Authorization"), std::string("Bearer ") + kBot);

  // A value that already says "Bearer " is sent as is; a lone entry is used even without an id.
  transport.then_reply(200, R"([{"workspace_detail":{"slug":"solo"}}])");
  EXPECT_EQ(plane::app_installation_workspace(transport, kBase, std::string("Bearer ") + kBot, "x"),
            "solo");
  EXPECT_EQ(transport.header_of(1, "Authorization"), std::string("Bearer ") + kBot);
}

TEST(OAuthAppInstallation, ErrorsAreClassifiedAndNameNoToken) {
  struct Case {
    long status;
    std::string body;
    ErrorKind kind;
  };
  const Case cases[] = {
      {200, "[]", ErrorKind::Http},
      {200, R"([{"id":"i","workspace_detail":{"name":"x"}}])", ErrorKind::Parse},
      {200, R"([{"id":"i"}])", ErrorKind::Parse},
      {200, R"("nope")", ErrorKind::Parse},
      {200, "not json", ErrorKind::Parse},
      {401, std::string(R"({"detail":"Invalid token )") + kBot + "\"}", ErrorKind::Auth},
      {403, R"({"detail":"no"})", ErrorKind::Auth},
      {502, "bad gateway", ErrorKind::ServerError},
  };
  for (const Case& c : cases) {
    FakeTransport transport;
    transport.then_reply(c.status, c.body);
    PlaneError e = expect_error(
        [&] { plane::app_installation_workspace(transport, kBase, kBot, "i"); }, c.kind);
    expect_no_secrets(e.what());
  }
}

TEST(OAuthTokenUser, AsksUsersMeWithTheBearerToken) {
  FakeTransport transport;
  transport.then_reply(200, R"({"id":"u-42","display_name":"ann"})");
  EXPECT_EQ(plane::oauth_token_user(transport, "https://api.plane.so/", kBot), "u-42");
  EXPECT_EQ(transport.sent[0].request.url, "https://api.plane.so/api/v1/users/me/");
  EXPECT_EQ(transport.header_of(0, "Authorization"), std::string("Bearer ") + kBot);
}

TEST(OAuthTokenUser, ErrorsAreClassifiedAndNameNoToken) {
  struct Case {
    long status;
    std::string body;
    ErrorKind kind;
  };
  const Case cases[] = {
      {200, R"({"display_name":"no id"})", ErrorKind::Parse},
      {200, R"({"id":7})", ErrorKind::Parse},
      {200, "[]", ErrorKind::Parse},
      {401, std::string(R"({"detail":"Invalid token )") + kBot + "\"}", ErrorKind::Auth},
      {503, "busy", ErrorKind::ServerError},
  };
  for (const auto& c : cases) {
    FakeTransport transport;
    transport.then_reply(c.status, c.body);
    PlaneError e = expect_error([&] { plane::oauth_token_user(transport, kBase, kBot); }, c.kind);
    expect_no_secrets(e.what());
  }
}

}  // namespace
