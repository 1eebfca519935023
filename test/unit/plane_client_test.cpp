// Unit tests for src/core/plane_client: URL building, auth header, pagination parameters, retries
// with backoff, 429/Retry-After pacing, auth failures, cancellation. Everything runs on a virtual
// clock (fakes::FakeWaiter), so backoffs and Retry-After waits cost no real time.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "core/errors.hpp"
#include "core/plane_client.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakeCredentials;
using fakes::FakeTransport;
using fakes::FakeWaiter;
using nlohmann::json;
using plane::ErrorKind;
using plane::PlaneClient;
using plane::PlaneClientConfig;
using plane::PlaneError;

const std::string kPrefix = "https://api.plane.so/api/v1/workspaces/acme/";

std::string page_body(const json& results, bool next, const std::string& next_cursor,
                      long total) {
  json doc = {{"grouped_by", nullptr},       {"sub_grouped_by", nullptr},
              {"total_count", total},        {"next_cursor", next_cursor},
              {"prev_cursor", "100:-1:1"},   {"next_page_results", next},
              {"prev_page_results", false},  {"count", results.size()},
              {"total_pages", 1},            {"total_results", total},
              {"extra_stats", nullptr},      {"results", results}};
  return doc.dump();
}

const std::string kOnePage = page_body(json::array({{{"id", "p1"}}}), false, "100:1:0", 1);

// Runs fn, which must throw PlaneError; returns it (or fails the test).
std::optional<PlaneError> error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const PlaneError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "expected a PlaneError, nothing was thrown";
  return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class PlaneClientTest : public ::testing::Test {
 protected:
  PlaneClientTest() : transport(&waiter), budget(60, 60000) {
    config.api_url = "https://api.plane.so";
    config.workspace_slug = "acme";
    config.per_page = 100;
    config.max_attempts = 3;
    config.backoff_base_ms = 500;
    config.backoff_max_ms = 30000;
    config.max_throttle_waits = 5;
  }

  PlaneClient& client() {
    if (!client_) client_.emplace(config, transport, budget, credentials, waiter);
    return *client_;
  }

  std::int64_t gap(size_t i) const {  // virtual ms between request i-1 and request i
    return transport.sent.at(i).at_ms - transport.sent.at(i - 1).at_ms;
  }

  PlaneClientConfig config;
  FakeWaiter waiter;
  FakeTransport transport;
  plane::LocalRequestBudget budget;
  FakeCredentials credentials;

 private:
  std::optional<PlaneClient> client_;
};

// ---------------------------------------------------------------------------------------------
// Configuration and URLs

TEST_F(PlaneClientTest, WorkspaceUrlLayout) {
  EXPECT_EQ(client().workspace_url("projects/", {}), kPrefix + "projects/");
  EXPECT_EQ(client().workspace_url("projects/p1/work-items/", {{"order_by", "-updated_at"}}),
            kPrefix + "projects/p1/work-items/?order_by=-updated_at");
  EXPECT_EQ(client().workspace_url("projects/", {{"a", "1"}, {"b", "2"}, {"c", ""}}),
            kPrefix + "projects/?a=1&b=2&c=");
}

TEST_F(PlaneClientTest, QueryKeysAndValuesArePercentEncoded) {
  EXPECT_EQ(client().workspace_url("work-items/search/", {{"search", "a b&c=d/é"}, {"k y", "x"}}),
            kPrefix + "work-items/search/?search=a%20b%26c%3Dd%2F%C3%A9&k%20y=x");
}

TEST_F(PlaneClientTest, SlugIsPercentEncodedAndTrailingSlashesDropped) {
  config.api_url = "http://plane.internal:8080//";
  config.workspace_slug = "my ws/x";
  EXPECT_EQ(client().workspace_url("projects/", {}),
            "http://plane.internal:8080/api/v1/workspaces/my%20ws%2Fx/projects/");
}

TEST_F(PlaneClientTest, RejectsBadConfig) {
  for (const char* url : {"ftp://api.plane.so", "api.plane.so", "", "file:///etc/passwd"}) {
    PlaneClientConfig c = config;
    c.api_url = url;
    auto e = error_of([&] { PlaneClient cl(c, transport, budget, credentials, waiter); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind(), ErrorKind::Config) << url;
  }
  for (int per_page : {0, -1, 1001}) {
    PlaneClientConfig c = config;
    c.per_page = per_page;
    auto e = error_of([&] { PlaneClient cl(c, transport, budget, credentials, waiter); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind(), ErrorKind::Config) << per_page;
  }
  PlaneClientConfig ok = config;
  ok.per_page = 1000;
  EXPECT_NO_THROW({ PlaneClient cl(ok, transport, budget, credentials, waiter); });
}

// ---------------------------------------------------------------------------------------------
// Requests on the wire

TEST_F(PlaneClientTest, ListPageFirstRequest) {
  config.timeout_ms = 12345;  // not HttpRequest's default, so that passing it on is visible
  transport.then_reply(200, kOnePage);
  const plane::ListPage page = client().list_page("projects/", {{"order_by", "created_at"}}, "");
  ASSERT_EQ(page.results.size(), 1u);
  EXPECT_EQ(page.results[0]["id"], "p1");
  EXPECT_FALSE(page.has_next);
  ASSERT_EQ(transport.sent.size(), 1u);
  const plane::HttpRequest& r = transport.sent[0].request;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.url, kPrefix + "projects/?order_by=created_at&per_page=100");  // no cursor
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.timeout_ms, 12345);
  EXPECT_EQ(transport.header_of(0, "X-API-Key"), "plane_api_secret1");
  EXPECT_EQ(transport.header_of(0, "Accept"), "application/json");
  EXPECT_FALSE(transport.header_of(0, "Content-Type").has_value());
  EXPECT_EQ(client().stats().requests, 1);
  EXPECT_EQ(client().stats().retries, 0);
}

TEST_F(PlaneClientTest, CursorAndSamePerPageOnEveryPage) {
  config.per_page = 2;
  transport.then_reply(200, page_body(json::array({{{"id", "a"}}, {{"id", "b"}}}), true, "2:1:0", 5));
  transport.then_reply(200, page_body(json::array({{{"id", "c"}}, {{"id", "d"}}}), true, "2:2:0", 5));
  transport.then_reply(200, page_body(json::array({{{"id", "e"}}}), false, "2:3:0", 5));
  std::string cursor;
  std::vector<std::string> ids;
  for (int guard = 0; guard < 10; ++guard) {
    plane::ListPage page = client().list_page("projects/p1/work-items/", {}, cursor);
    for (const auto& r : page.results) ids.push_back(r["id"].get<std::string>());
    if (!page.has_next) break;
    cursor = page.next_cursor;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  ASSERT_EQ(transport.sent.size(), 3u);
  EXPECT_EQ(transport.sent[0].request.url, kPrefix + "projects/p1/work-items/?per_page=2");
  EXPECT_EQ(transport.sent[1].request.url,
            kPrefix + "projects/p1/work-items/?per_page=2&cursor=2%3A1%3A0");
  EXPECT_EQ(transport.sent[2].request.url,
            kPrefix + "projects/p1/work-items/?per_page=2&cursor=2%3A2%3A0");
}

TEST_F(PlaneClientTest, SendObjectCarriesMethodBodyAndContentType) {
  transport.then_reply(200, R"({"id": "i1", "name": "renamed"})");
  const json result =
      client().send_object("PATCH", "projects/p1/work-items/i1/", json{{"name", "renamed"}});
  EXPECT_EQ(result["name"], "renamed");
  ASSERT_EQ(transport.sent.size(), 1u);
  const plane::HttpRequest& r = transport.sent[0].request;
  EXPECT_EQ(r.method, "PATCH");
  EXPECT_EQ(r.url, kPrefix + "projects/p1/work-items/i1/");
  EXPECT_EQ(json::parse(r.body), json({{"name", "renamed"}}));
  EXPECT_EQ(transport.header_of(0, "Content-Type"), "application/json");
  EXPECT_EQ(transport.header_of(0, "X-API-Key"), "plane_api_secret1");
}

TEST_F(PlaneClientTest, GetObjectReturnsParsedBody) {
  transport.then_reply(200, R"({"id": "u1", "email": "a@example.com"})");
  const json me = client().get_object("members/", {{"fields", "id,email"}});
  EXPECT_EQ(me["email"], "a@example.com");
  EXPECT_EQ(transport.sent[0].request.url, kPrefix + "members/?fields=id%2Cemail");
}

TEST_F(PlaneClientTest, BearerCredentialGoesInItsOwnHeader) {
  credentials.header = "Authorization";
  credentials.prefix = "Bearer pln_bot_";
  transport.then_reply(200, kOnePage);
  client().list_page("projects/", {}, "");
  EXPECT_EQ(transport.header_of(0, "Authorization"), "Bearer pln_bot_1");
  EXPECT_FALSE(transport.header_of(0, "X-API-Key").has_value());
}

TEST_F(PlaneClientTest, CredentialFetchedForEveryRequest) {
  transport.then_reply(502, "bad gateway");
  transport.then_throw(ErrorKind::Transport, "connection reset");
  transport.then_reply(200, kOnePage);
  transport.then_reply(200, kOnePage);
  client().list_page("projects/", {}, "");
  client().list_page("projects/", {}, "");
  ASSERT_EQ(transport.sent.size(), 4u);
  EXPECT_EQ(credentials.calls, 4);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(transport.header_of(i, "X-API-Key"), "plane_api_secret" + std::to_string(i + 1));
    // Exactly one credential header per request, even after retries.
    int n = 0;
    for (const auto& h : transport.sent[i].request.headers) n += h.first == "X-API-Key";
    EXPECT_EQ(n, 1) << "request " << i;
  }
}

TEST_F(PlaneClientTest, MissingCredentialIsConfigErrorAndSendsNothing) {
  credentials.missing = true;
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Config);
  EXPECT_TRUE(transport.sent.empty());
}

// ---------------------------------------------------------------------------------------------
// Retries

TEST_F(PlaneClientTest, ServerErrorRetriedThenSucceeds) {
  transport.then_reply(502, "<html>Bad Gateway</html>");
  transport.then_reply(503, R"({"detail": "unavailable"})");
  transport.then_reply(200, kOnePage);
  const plane::ListPage page = client().list_page("projects/", {}, "");
  EXPECT_EQ(page.results.size(), 1u);
  ASSERT_EQ(transport.sent.size(), 3u);
  EXPECT_EQ(client().stats().requests, 3);
  EXPECT_EQ(client().stats().retries, 2);
  // Exponential backoff with jitter: after attempt n, somewhere in [cap/4, cap],
  // cap = base * 2^n.
  EXPECT_GE(gap(1), 250);
  EXPECT_LE(gap(1), 1000);
  EXPECT_GE(gap(2), 500);
  EXPECT_LE(gap(2), 2000);
  // Every retry re-sends the same request.
  EXPECT_EQ(transport.sent[2].request.url, transport.sent[0].request.url);
}

TEST_F(PlaneClientTest, ServerErrorExhaustedReportsAttempts) {
  for (int i = 0; i < 3; ++i) transport.then_reply(500, R"({"detail": "Internal boom"})");
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::ServerError);
  EXPECT_EQ(e->http_status(), 500);
  EXPECT_TRUE(contains(e->what(), "3 attempts")) << e->what();
  EXPECT_TRUE(contains(e->what(), "Internal boom")) << e->what();
  EXPECT_EQ(transport.sent.size(), 3u);
  EXPECT_TRUE(transport.script.empty());
}

TEST_F(PlaneClientTest, BackoffIsCappedByBackoffMax) {
  config.max_attempts = 8;
  config.backoff_base_ms = 1000;
  config.backoff_max_ms = 3000;
  for (int i = 0; i < 7; ++i) transport.then_reply(500, "");
  transport.then_reply(200, kOnePage);
  client().list_page("projects/", {}, "");
  ASSERT_EQ(transport.sent.size(), 8u);
  for (size_t i = 1; i < 8; ++i) {
    EXPECT_LE(gap(i), 3000) << i;
    EXPECT_GE(gap(i), 500) << i;
  }
}

TEST_F(PlaneClientTest, TransportErrorsRetried) {
  transport.then_throw(ErrorKind::Transport, "Couldn't connect to server");
  transport.then_throw(ErrorKind::Timeout, "request timed out after 30000 ms");
  transport.then_reply(200, kOnePage);
  EXPECT_EQ(client().list_page("projects/", {}, "").results.size(), 1u);
  EXPECT_EQ(transport.sent.size(), 3u);
  EXPECT_EQ(client().stats().retries, 2);
  EXPECT_GE(gap(1), 250);
}

TEST_F(PlaneClientTest, TransportErrorExhaustedIsRethrown) {
  for (int i = 0; i < 3; ++i) transport.then_throw(ErrorKind::Timeout, "timed out");
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Timeout);
  EXPECT_EQ(transport.sent.size(), 3u);
}

TEST_F(PlaneClientTest, MalformedSuccessBodyRetried) {
  transport.then_reply(200, R"({"results": [{"id": "p1"},)");  // truncated page
  transport.then_reply(200, kOnePage);
  EXPECT_EQ(client().list_page("projects/", {}, "").results.size(), 1u);
  EXPECT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(client().stats().retries, 1);
}

TEST_F(PlaneClientTest, MalformedSuccessBodyExhaustedIsParseError) {
  for (int i = 0; i < 3; ++i) transport.then_reply(200, "<html>maintenance</html>");
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Parse);
  EXPECT_EQ(transport.sent.size(), 3u);
}

TEST_F(PlaneClientTest, MalformedObjectBodyRetried) {
  transport.then_reply(200, "{");
  transport.then_reply(200, R"({"id": "x"})");
  EXPECT_EQ(client().get_object("projects/x/")["id"], "x");
  EXPECT_EQ(transport.sent.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Auth and other client errors

TEST_F(PlaneClientTest, UnauthorizedIsAuthErrorWithoutRetry) {
  transport.then_reply(401, R"({"detail": "Authentication credentials were not provided."})");
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Auth);
  EXPECT_EQ(e->http_status(), 401);
  EXPECT_FALSE(e->retryable());
  EXPECT_EQ(transport.sent.size(), 1u);
  EXPECT_FALSE(contains(e->what(), "plane_api_secret")) << e->what();
  EXPECT_TRUE(contains(e->what(), "401")) << e->what();
}

TEST_F(PlaneClientTest, ForbiddenIsForbiddenWithoutRetryRenewalOrCredentialInMessage) {
  // A 403 may be about the resource (a project the key's user never joined), not the credential:
  // the caller decides, and a token is never renewed for it.
  credentials.refresh_result = true;
  transport.then_reply(403, R"({"detail": "Given API token is not valid"})");
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Forbidden);
  EXPECT_EQ(e->http_status(), 403);
  EXPECT_FALSE(e->retryable());
  EXPECT_EQ(transport.sent.size(), 1u);
  EXPECT_EQ(credentials.refresh_calls, 0);
  EXPECT_TRUE(contains(e->what(), "Given API token is not valid")) << e->what();
  EXPECT_FALSE(contains(e->what(), "plane_api_secret")) << e->what();
  EXPECT_FALSE(contains(e->what(), "secret1")) << e->what();
}

TEST_F(PlaneClientTest, RefreshAfterRejectionRetriesOnceWithNewCredential) {
  credentials.refresh_result = true;
  transport.then_reply(401, R"({"detail": "expired"})");
  transport.then_reply(200, kOnePage);
  EXPECT_EQ(client().list_page("projects/", {}, "").results.size(), 1u);
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(credentials.refresh_calls, 1);
  EXPECT_EQ(transport.header_of(0, "X-API-Key"), "plane_api_secret1");
  EXPECT_EQ(transport.header_of(1, "X-API-Key"), "plane_api_secret2");
}

TEST_F(PlaneClientTest, RefreshIsTriedOnlyOnce) {
  credentials.refresh_result = true;
  transport.then_reply(401, R"({"detail": "expired"})");
  transport.then_reply(401, R"({"detail": "Token has expired."})");
  transport.then_reply(200, kOnePage);  // must not be reached
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Auth);
  EXPECT_EQ(e->http_status(), 401);
  EXPECT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(credentials.refresh_calls, 1);
}

TEST_F(PlaneClientTest, RefreshDoesNotUseUpAnAttempt) {
  config.max_attempts = 1;
  credentials.refresh_result = true;
  transport.then_reply(401, "");
  transport.then_reply(200, kOnePage);
  EXPECT_EQ(client().list_page("projects/", {}, "").results.size(), 1u);
}

TEST_F(PlaneClientTest, OtherClientErrorsAreHttpErrorsWithoutRetry) {
  const struct {
    long status;
    const char* body;
    const char* expect_in_message;
  } cases[] = {
      {400, R"({"detail": "Invalid per_page value. Cannot exceed 1000."})", "Cannot exceed 1000"},
      {400, R"({"detail": "Invalid cursor parameter."})", "Invalid cursor parameter."},
      {404, R"({"detail": "Not found."})", "Not found."},
      {405, R"({"detail": "Method \"PUT\" not allowed."})", "not allowed"},
      {409, R"({"error": "conflict"})", "conflict"},
      {302, "", "302"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status);
    FakeTransport t(&waiter);
    t.then_reply(c.status, c.body);
    t.then_reply(200, kOnePage);  // must not be reached
    PlaneClient cl(config, t, budget, credentials, waiter);
    auto e = error_of([&] { cl.list_page("projects/", {}, ""); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind(), ErrorKind::Http);
    EXPECT_EQ(e->http_status(), c.status);
    EXPECT_TRUE(contains(e->what(), c.expect_in_message)) << e->what();
    EXPECT_EQ(t.sent.size(), 1u);
  }
}

// ---------------------------------------------------------------------------------------------
// Rate limiting

TEST_F(PlaneClientTest, TooManyRequestsWaitsRetryAfterAndIsNotAnAttempt) {
  config.max_attempts = 1;  // a 429 that counted as an attempt would make this fail
  transport.then_reply(429, R"({"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"})",
                       {{"retry-after", "17"}});
  transport.then_reply(200, kOnePage);
  EXPECT_EQ(client().list_page("projects/", {}, "").results.size(), 1u);
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_GE(gap(1), 17000);
  EXPECT_LE(gap(1), 19000);
  EXPECT_EQ(client().stats().throttled, 1);
  EXPECT_EQ(budget.state().throttled_total, 1);
}

TEST_F(PlaneClientTest, RetryAfterHeaderNameIsCaseInsensitive) {
  transport.then_reply(429, "", {{"Retry-After", "3"}});
  transport.then_reply(200, kOnePage);
  client().list_page("projects/", {}, "");
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_GE(gap(1), 3000);
}

TEST_F(PlaneClientTest, TooManyRequestsThenServerErrorsStillCountsOnlyRealAttempts) {
  transport.then_reply(429, "", {{"retry-after", "1"}});
  for (int i = 0; i < 3; ++i) transport.then_reply(500, "");
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::ServerError);
  EXPECT_TRUE(contains(e->what(), "3 attempts")) << e->what();
  EXPECT_EQ(transport.sent.size(), 4u);
}

TEST_F(PlaneClientTest, EndlessTooManyRequestsGivesUpAsRateLimited) {
  config.max_throttle_waits = 3;
  for (int i = 0; i < 10; ++i) transport.then_reply(429, "", {{"retry-after", "2"}});
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::RateLimited);
  EXPECT_EQ(e->http_status(), 429);
  EXPECT_EQ(transport.sent.size(), 4u);
  for (size_t i = 1; i < transport.sent.size(); ++i) EXPECT_GE(gap(i), 2000) << i;
}

TEST_F(PlaneClientTest, TooManyRequestsWithUnlimitedBudgetStillWaits) {
  // plane.rate_limit_per_minute = 0 (no local pacing): Plane's Retry-After must still be obeyed.
  plane::LocalRequestBudget unlimited(0, 60000);
  transport.then_reply(429, "", {{"retry-after", "5"}});
  transport.then_reply(200, kOnePage);
  PlaneClient cl(config, transport, unlimited, credentials, waiter);
  EXPECT_EQ(cl.list_page("projects/", {}, "").results.size(), 1u);
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_GE(gap(1), 5000);
}

TEST_F(PlaneClientTest, BudgetPacesRequests) {
  plane::LocalRequestBudget two_per_minute(2, 60000);
  PlaneClient cl(config, transport, two_per_minute, credentials, waiter);
  for (int i = 0; i < 5; ++i) transport.then_reply(200, kOnePage);
  for (int i = 0; i < 5; ++i) cl.list_page("projects/", {}, "");
  ASSERT_EQ(transport.sent.size(), 5u);
  EXPECT_EQ(gap(1), 0);
  EXPECT_EQ(gap(2), 60000);
  EXPECT_EQ(gap(3), 0);
  EXPECT_EQ(gap(4), 60000);
}

TEST_F(PlaneClientTest, RemainingZeroPausesTheNextRequest) {
  transport.then_reply(200, kOnePage, {{"x-ratelimit-remaining", "0"}});
  transport.then_reply(200, kOnePage);
  client().list_page("projects/", {}, "");
  client().list_page("projects/", {}, "");
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(gap(1), 60000);
  EXPECT_EQ(budget.state().last_remaining, 0);
}

// ---------------------------------------------------------------------------------------------
// Cancellation

TEST_F(PlaneClientTest, CancelledBeforeSendingSendsNothing) {
  waiter.cancel = true;
  transport.then_reply(200, kOnePage);
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Cancelled);
  EXPECT_FALSE(e->retryable());
  EXPECT_TRUE(transport.sent.empty());
}

TEST_F(PlaneClientTest, CancelledDuringBackoff) {
  transport.then_reply(503, "");
  transport.then_reply(200, kOnePage);
  waiter.on_wait = [](FakeWaiter& w, std::int64_t) { w.cancel = true; };
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Cancelled);
  EXPECT_EQ(transport.sent.size(), 1u);
}

TEST_F(PlaneClientTest, CancelledDuringRetryAfterWait) {
  transport.then_reply(429, "", {{"retry-after", "30"}});
  transport.then_reply(200, kOnePage);
  waiter.on_wait = [](FakeWaiter& w, std::int64_t) { w.cancel = true; };
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Cancelled);
  EXPECT_EQ(transport.sent.size(), 1u);
}

TEST_F(PlaneClientTest, CancelledTransportIsNotRetried) {
  transport.then_throw(ErrorKind::Cancelled, "request cancelled");
  transport.then_reply(200, kOnePage);
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Cancelled);
  EXPECT_EQ(transport.sent.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Credentials: renewal and the hosts that may receive them

TEST_F(PlaneClientTest, ARenewedCredentialRefusedWith403IsForbiddenAndNotRenewedAgain) {
  credentials.refresh_result = true;
  transport.then_reply(401, R"({"detail": "expired"})");
  transport.then_reply(403, R"({"detail": "You do not have permission to perform this action."})");
  transport.then_reply(200, kOnePage);  // must not be reached
  auto e = error_of([&] { client().list_page("projects/p1/states/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Forbidden);
  EXPECT_EQ(credentials.refresh_calls, 1);
  EXPECT_EQ(transport.sent.size(), 2u);
}

TEST_F(PlaneClientTest, CredentialHostsRefuseAnUnlistedHostOrPlainHttpAtConstruction) {
  config.credential_hosts = std::vector<std::string>{"api.plane.so", "plane.internal", "127.0.0.1", "localhost"};
  const struct {
    const char* url;
    const char* why;
  } refused[] = {
      {"https://evil.example.com", "plane.allowed_hosts"},
      {"https://api.plane.so.evil.example.com", "plane.allowed_hosts"},
      {"http://plane.internal", "https only"},
      {"http://api.plane.so", "https only"},
      {"https://user:pw@api.plane.so", "not an http(s) URL"},
      {"https://api.plane.so:0", "not an http(s) URL"},
  };
  for (const auto& c : refused) {
    SCOPED_TRACE(c.url);
    PlaneClientConfig cfg = config;
    cfg.api_url = c.url;
    auto e = error_of([&] { PlaneClient cl(cfg, transport, budget, credentials, waiter); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind(), ErrorKind::Config);
    EXPECT_TRUE(contains(e->what(), "Plane API URL refused")) << e->what();
    EXPECT_TRUE(contains(e->what(), c.why)) << e->what();
  }
  for (const char* url : {"https://api.plane.so", "https://API.Plane.so./", "http://127.0.0.1:8000",
                          "http://localhost:8000/", "https://plane.internal:8443"}) {
    SCOPED_TRACE(url);
    PlaneClientConfig cfg = config;
    cfg.api_url = url;
    EXPECT_NO_THROW({ PlaneClient cl(cfg, transport, budget, credentials, waiter); });
  }
  PlaneClientConfig wildcard = config;
  wildcard.credential_hosts = std::vector<std::string>{"*.plane.so"};
  wildcard.api_url = "https://eu.api.plane.so";
  EXPECT_NO_THROW({ PlaneClient cl(wildcard, transport, budget, credentials, waiter); });
  wildcard.api_url = "https://plane.so";
  EXPECT_TRUE(error_of([&] { PlaneClient cl(wildcard, transport, budget, credentials, waiter); }));
  // Unchecked without a list (unit tests only); nothing was sent by any of these.
  PlaneClientConfig unchecked = config;
  unchecked.credential_hosts = std::nullopt;
  unchecked.api_url = "https://evil.example.com";
  EXPECT_NO_THROW({ PlaneClient cl(unchecked, transport, budget, credentials, waiter); });
  EXPECT_TRUE(transport.sent.empty());
  EXPECT_EQ(credentials.calls, 0);
}

// ---------------------------------------------------------------------------------------------
// Page size

json rows(int n, int first = 0) {
  json out = json::array();
  for (int i = 0; i < n; ++i) out.push_back({{"id", "r" + std::to_string(first + i)}});
  return out;
}

std::string sent_query(const FakeTransport& t, size_t i, const std::string& key) {
  const auto q = fakes::parse_url(t.sent.at(i).request.url, kPrefix).query;
  auto it = q.find(key);
  return it == q.end() ? std::string() : it->second;
}

TEST_F(PlaneClientTest, APageSizeRefusedWithItsLimitIsLoweredToItAndAskedAgain) {
  config.per_page = 1000;
  transport.then_reply(400, R"({"detail": "Invalid per_page value. Cannot exceed 100."})");
  transport.then_reply(200, page_body(rows(100), true, "100:1:0", 250));
  const plane::ListPage page = client().list_page("projects/p1/work-items/", {}, "");
  EXPECT_EQ(page.results.size(), 100u);
  EXPECT_EQ(page.next_cursor, "100:1:0");
  EXPECT_EQ(client().per_page(), 100);
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(sent_query(transport, 0, "per_page"), "1000");
  EXPECT_EQ(sent_query(transport, 1, "per_page"), "100");
  EXPECT_EQ(client().stats().retries, 0);  // a negotiation, not a failure
  // Every later request uses it.
  transport.then_reply(200, page_body(rows(100, 100), true, "100:2:0", 250));
  client().list_page("projects/p1/work-items/", {}, "100:1:0");
  EXPECT_EQ(sent_query(transport, 2, "per_page"), "100");
}

TEST_F(PlaneClientTest, APageSizeRefusedMidScanRebasesTheCursorSoNoRowIsSkipped) {
  config.per_page = 1000;
  transport.then_reply(400, R"({"detail": "Invalid per_page value. Cannot exceed 100."})");
  transport.then_reply(200, page_body(rows(100, 1000), true, "100:11:0", 5000));
  client().list_page("projects/p1/work-items/", {}, "1000:1:0");  // offset 1000
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(sent_query(transport, 1, "cursor"), "100:10:0");  // offset 1000 still
  EXPECT_EQ(sent_query(transport, 1, "per_page"), "100");
}

TEST_F(PlaneClientTest, ARefusalNamingNoLimitFallsBackTo100Once) {
  config.per_page = 500;
  transport.then_reply(400, R"({"detail": "Invalid per_page value."})");
  transport.then_reply(400, R"({"detail": "Invalid per_page value."})");
  transport.then_reply(200, kOnePage);  // must not be reached
  auto e = error_of([&] { client().list_page("projects/", {}, ""); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind(), ErrorKind::Http);
  EXPECT_EQ(e->http_status(), 400);
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(sent_query(transport, 1, "per_page"), "100");
}

TEST_F(PlaneClientTest, ARefusalThatCannotBeMetOrIsNotAboutThePageSizeIsAnError) {
  const struct {
    int per_page;
    const char* body;
  } cases[] = {
      {100, R"({"detail": "Invalid per_page value. Cannot exceed 100."})"},   // already at the limit
      {100, R"({"detail": "Invalid per_page value. Cannot exceed 1000."})"},  // above what we ask
      {1000, R"({"detail": "Invalid cursor parameter."})"},
      {1000, R"({"detail": "Cannot exceed 100."})"},  // names no per_page
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    PlaneClientConfig cfg = config;
    cfg.per_page = c.per_page;
    FakeTransport t(&waiter);
    t.then_reply(400, c.body);
    t.then_reply(200, kOnePage);  // must not be reached
    PlaneClient cl(cfg, t, budget, credentials, waiter);
    auto e = error_of([&] { cl.list_page("projects/", {}, ""); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->http_status(), 400);
    EXPECT_EQ(t.sent.size(), 1u);
    EXPECT_EQ(cl.per_page(), c.per_page);
  }
}

TEST_F(PlaneClientTest, AFirstPageWithFewerRowsThanAskedThatIsNotTheLastSetsThePageSize) {
  config.per_page = 100;
  transport.then_reply(200, page_body(rows(30), true, "100:1:0", 80));
  const plane::ListPage page = client().list_page("projects/p1/work-items/", {}, "");
  EXPECT_EQ(client().per_page(), 30);
  EXPECT_EQ(page.next_cursor, "30:1:0");  // offset 30, where the rows served end (not 100)
  transport.then_reply(200, page_body(rows(30, 30), true, "30:2:0", 80));
  client().list_page("projects/p1/work-items/", {}, page.next_cursor);
  EXPECT_EQ(sent_query(transport, 1, "per_page"), "30");
  EXPECT_EQ(sent_query(transport, 1, "cursor"), "30:1:0");
}

TEST_F(PlaneClientTest, FewerRowsOnALastOrLaterPageChangeNothing) {
  config.per_page = 100;
  transport.then_reply(200, page_body(rows(30), false, "100:1:0", 30));  // the only page
  EXPECT_EQ(client().list_page("a/", {}, "").next_cursor, "100:1:0");
  EXPECT_EQ(client().per_page(), 100);
  transport.then_reply(200, page_body(rows(30), true, "100:2:0", 500));  // a later page
  EXPECT_EQ(client().list_page("a/", {}, "100:1:0").next_cursor, "100:2:0");
  EXPECT_EQ(client().per_page(), 100);
  transport.then_reply(200, page_body(json::array(), true, "100:1:0", 500));  // an empty first page
  client().list_page("a/", {}, "");
  EXPECT_EQ(client().per_page(), 100);
  transport.then_reply(200, rows(3).dump());  // a bare array
  client().list_page("a/", {}, "");
  EXPECT_EQ(client().per_page(), 100);
}

TEST_F(PlaneClientTest, WorkItemsPathFollowsTheSegmentInUse) {
  EXPECT_EQ(client().work_items_path("p1"), "projects/p1/work-items/");
  client().use_work_items_segment("issues");
  EXPECT_EQ(client().work_items_segment(), "issues");
  EXPECT_EQ(client().work_items_path("p1"), "projects/p1/issues/");
  PlaneClientConfig old = config;
  old.work_items_segment = "issues";
  PlaneClient cl(old, transport, budget, credentials, waiter);
  EXPECT_EQ(cl.work_items_path("p2"), "projects/p2/issues/");
}

// ---------------------------------------------------------------------------------------------
// describe_error_body

TEST(DescribeErrorBody, PicksPlanesMessageFields) {
  EXPECT_EQ(plane::describe_error_body(R"({"detail": "Not found."})"), "Not found.");
  EXPECT_EQ(plane::describe_error_body(R"({"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"})"),
            "RATE_LIMIT_EXCEEDED");
  EXPECT_EQ(plane::describe_error_body(R"({"error": "bad"})"), "bad");
  EXPECT_EQ(plane::describe_error_body(R"({"message": "oops"})"), "oops");
  EXPECT_EQ(plane::describe_error_body(R"({"detail": {"name": ["required"]}})"),
            R"({"name":["required"]})");
}

TEST(DescribeErrorBody, FallsBackToTruncatedBody) {
  EXPECT_EQ(plane::describe_error_body("<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
  EXPECT_EQ(plane::describe_error_body(R"({"name": ["This field is required."]})"),
            R"({"name": ["This field is required."]})");
  const std::string long_body(5000, 'x');
  const std::string d = plane::describe_error_body(long_body);
  EXPECT_LE(d.size(), 203u);
  EXPECT_EQ(d.substr(0, 200), std::string(200, 'x'));
  const std::string long_detail = json({{"detail", std::string(1000, 'y')}}).dump();
  const std::string d2 = plane::describe_error_body(long_detail);
  EXPECT_EQ(d2, std::string(200, 'y') + "...");
  EXPECT_EQ(plane::describe_error_body(""), "");
}

// A body nested 100000 levels deep (200 KB) overflowed the stack in json::dump (SIGSEGV); it is now
// quoted raw like any body that is not JSON.
TEST(DescribeErrorBody, DeeplyNestedBodyIsQuotedRawNotDumped) {
  const std::string deep =
      "{\"detail\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(plane::describe_error_body(deep), deep.substr(0, 200));
  const std::string ok = "{\"detail\":" + std::string(50, '[') + std::string(50, ']') + "}";
  EXPECT_EQ(plane::describe_error_body(ok), std::string(50, '[') + std::string(50, ']'));
}

}  // namespace
