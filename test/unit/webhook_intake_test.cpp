// Unit tests for src/core/webhook_intake: the order of checks of one delivery, the statuses, the
// reuse of a recently read secret and its rereading when it was replaced, and the secret cache.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/json_parse.hpp"
#include "core/webhook_auth.hpp"
#include "core/webhook_intake.hpp"

namespace {

using nlohmann::json;
using plane::IntakeCounter;
using plane::SecretStatus;

const std::string kSecret = "plane_wh_intake_0123456789abcdef";

// Tokens of a parsed body, as the Postgres layer hands them over (here from a document).
struct Tokens {
  std::vector<std::string> texts;
  std::vector<plane::JsonToken> tokens;
  void add(plane::JsonTokenKind k, std::string text = "") {
    texts.push_back(std::move(text));
    tokens.push_back({k, nullptr, 0});
  }
  void fix() {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i].text = texts[i].data();
      tokens[i].len = texts[i].size();
    }
  }
  void flatten(const json& v) {
    using K = plane::JsonTokenKind;
    if (v.is_object()) {
      add(K::BeginObject);
      for (auto it = v.begin(); it != v.end(); ++it) {
        add(K::Key, it.key());
        flatten(it.value());
      }
      add(K::EndObject);
    } else if (v.is_array()) {
      add(K::BeginArray);
      for (const auto& e : v) flatten(e);
      add(K::EndArray);
    } else if (v.is_string()) {
      add(K::String, v.get<std::string>());
    } else if (v.is_number()) {
      add(K::Number, v.dump());
    } else if (v.is_boolean()) {
      add(v.get<bool>() ? K::True : K::False);
    } else {
      add(K::Null);
    }
  }
};

class FakePort : public plane::IntakePort {
 public:
  std::map<std::string, std::string> secrets;  // installed workspaces (secret "" = none stored)
  std::string unserved;
  int reads = 0;
  std::int64_t now = 1'000'000;
  std::vector<std::string> enqueued_keys;
  std::vector<std::string> statuses;
  std::map<IntakeCounter, int> counts;
  std::vector<std::string> warnings;
  bool refuse_json = false;
  Tokens tokens;

  std::string unserved_reason() override { return unserved; }
  plane::SecretRead read_secret(const std::string& slug) override {
    ++reads;
    plane::SecretRead r;
    auto it = secrets.find(slug);
    if (it == secrets.end()) return r;
    r.status = it->second.empty() ? SecretStatus::NoSecret : SecretStatus::Found;
    r.secret = it->second;
    return r;
  }
  bool parse_body(std::string_view body, const plane::JsonToken*& t, std::size_t& count) override {
    if (refuse_json) return false;
    json doc = json::parse(body.begin(), body.end(), nullptr, false);
    if (doc.is_discarded()) return false;
    tokens = Tokens{};
    tokens.flatten(doc);
    tokens.fix();
    t = tokens.tokens.data();
    count = tokens.tokens.size();
    return true;
  }
  bool enqueue(const plane::WebhookEvent& event, const char* status) override {
    for (const auto& k : enqueued_keys) {
      if (k == event.idempotency_key) return false;
    }
    enqueued_keys.push_back(event.idempotency_key);
    statuses.push_back(status);
    return true;
  }
  void count(const std::string& slug, IntakeCounter c) override { ++counts[c]; }
  void warn(const std::string& message, const std::string& hint) override { warnings.push_back(message); }
  std::int64_t now_ms() override { return now; }
};

std::string body(const std::string& event_id = "e1", const std::string& event = "workitem.updated") {
  return json{{"version", "v2"}, {"event", event}, {"event_id", event_id}, {"entity_id", "i1"},
              {"entity_type", "workitem"}, {"data", {{"id", "i1"}, {"updated_at", "2026-03-01T10:00:00Z"}}}}
      .dump();
}

plane::HeaderMap signed_by(const std::string& secret, const std::string& b) {
  return {{"x-plane-signature", plane::hmac_sha256_hex(secret, b)}};
}

class IntakeTest : public ::testing::Test {
 protected:
  IntakeTest() { port.secrets["acme"] = kSecret; }
  plane::IntakeResult deliver(const std::string& b, const plane::HeaderMap& headers, const std::string& slug = "acme") {
    return plane::accept_delivery(port, cache, options, slug, headers, b);
  }
  FakePort port;
  plane::SecretCache cache;
  plane::IntakeOptions options;
};

TEST_F(IntakeTest, ASignedDeliveryIsQueuedOnceAndDuplicatesAreA200) {
  const std::string b = body();
  plane::IntakeResult r = deliver(b, signed_by(kSecret, b));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.enqueued);
  EXPECT_EQ(port.enqueued_keys, (std::vector<std::string>{"plane:event:e1"}));
  EXPECT_EQ(port.statuses, (std::vector<std::string>{"pending"}));
  r = deliver(b, signed_by(kSecret, b));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.enqueued);
  EXPECT_EQ(port.counts[IntakeCounter::Accepted], 1);
  EXPECT_EQ(port.counts[IntakeCounter::Duplicate], 1);
  const std::string comment = body("e2", "workitem.comment.created");
  r = deliver(comment, signed_by(kSecret, comment));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.enqueued);  // recorded as ignored: nothing for the queue worker
  EXPECT_EQ(port.statuses.back(), "ignored");
}

TEST_F(IntakeTest, StatusesInTheirOrder) {
  const std::string b = body();
  EXPECT_EQ(deliver(b, signed_by(kSecret, b), "no such slug").status, 404);
  EXPECT_EQ(deliver(b, signed_by(kSecret, b), "globex").status, 404);  // not installed
  options.auth.max_body_bytes = b.size() - 1;
  EXPECT_EQ(deliver(b, {}).status, 413);  // before the signature is looked at
  options.auth.max_body_bytes = plane::kDefaultMaxWebhookBodyBytes;
  EXPECT_EQ(deliver(b, signed_by("plane_wh_wrong", b)).status, 401);
  EXPECT_EQ(deliver(b, {}).status, 401);
  const std::string bad = "{not json";
  EXPECT_EQ(deliver(bad, signed_by(kSecret, bad)).status, 400);
  const std::string nul = R"({"event": "issue\u0000", "action": "updated"})";
  EXPECT_EQ(deliver(nul, signed_by(kSecret, nul)).status, 400);
  port.refuse_json = true;  // JSON the queue cannot store (jsonb refused it)
  EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 400);
  port.refuse_json = false;
  const std::string no_event = R"({"data": {}})";
  EXPECT_EQ(deliver(no_event, signed_by(kSecret, no_event)).status, 400);
  EXPECT_TRUE(port.enqueued_keys.empty());
  EXPECT_EQ(port.counts[IntakeCounter::Unauthorized], 2);
  EXPECT_EQ(port.counts[IntakeCounter::TooLarge], 1);
  EXPECT_EQ(port.counts[IntakeCounter::Malformed], 4);
}

TEST_F(IntakeTest, NoStoredSecretIsA503SoThatPlaneRetries) {
  port.secrets["acme"] = "";
  const std::string b = body();
  EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 503);
  ASSERT_EQ(port.warnings.size(), 1u);
  EXPECT_NE(port.warnings[0].find("plane_webhook_secret:acme"), std::string::npos);
}

TEST_F(IntakeTest, NoWorkerServingTheDatabaseIsA503) {
  port.unserved = "plane.database is \"other\"";
  const std::string b = body();
  EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 503);
  EXPECT_TRUE(port.enqueued_keys.empty());
  ASSERT_EQ(port.warnings.size(), 1u);
  EXPECT_NE(port.warnings[0].find("plane.database"), std::string::npos);
}

TEST_F(IntakeTest, TheSecretIsReusedWithinTheCacheTimeAndReadAgainAfter) {
  options.secret_cache_ms = 1000;
  for (int i = 0; i < 3; ++i) {
    const std::string b = body("r" + std::to_string(i));
    EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 200);
  }
  EXPECT_EQ(port.reads, 1);
  port.now += 1000;
  const std::string b = body("later");
  EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 200);
  EXPECT_EQ(port.reads, 2);
  options.secret_cache_ms = 0;  // off: every delivery reads
  const std::string c = body("off");
  deliver(c, signed_by(kSecret, c));
  deliver(c, signed_by(kSecret, c));
  EXPECT_EQ(port.reads, 4);
}

TEST_F(IntakeTest, AReplacedSecretWorksAtOnceAndTheOldOneStops) {
  options.secret_cache_ms = 60000;
  const std::string a = body("a");
  EXPECT_EQ(deliver(a, signed_by(kSecret, a)).status, 200);
  port.secrets["acme"] = "plane_wh_rotated";
  const std::string b = body("b");
  EXPECT_EQ(deliver(b, signed_by("plane_wh_rotated", b)).status, 200);  // a failed check reads again
  EXPECT_EQ(port.reads, 2);
  const std::string c = body("c");
  EXPECT_EQ(deliver(c, signed_by(kSecret, c)).status, 401);  // the old secret, reread: refused
}

TEST_F(IntakeTest, TheBareSecretHeaderCountsOnlyWhenAllowed) {
  const std::string b = body();
  EXPECT_EQ(deliver(b, {{"x-plane-webhook-secret", kSecret}}).status, 401);
  options.auth.accept_secret_header = true;
  EXPECT_EQ(deliver(b, {{"x-plane-webhook-secret", kSecret}}).status, 200);
}

TEST_F(IntakeTest, ASecretRemovedWhileCachedIsA503LikeNoSecretAtAll) {
  // Plane retries a 5xx, never a 4xx: a delivery that finds no stored secret must get the same
  // 503 whether or not an older secret was still cached.
  options.secret_cache_ms = 60000;
  const std::string a = body("a");
  ASSERT_EQ(deliver(a, signed_by(kSecret, a)).status, 200);
  port.secrets["acme"] = "";  // removed from Vault, to be replaced
  const std::string b = body("b");
  EXPECT_EQ(deliver(b, signed_by("plane_wh_next", b)).status, 503);
  EXPECT_EQ(port.reads, 2);
  ASSERT_EQ(port.warnings.size(), 1u);
  EXPECT_NE(port.warnings[0].find("plane_webhook_secret:acme"), std::string::npos);
  EXPECT_EQ(port.counts[IntakeCounter::Unauthorized], 0);
  // Without the cache the same delivery gets the same answer.
  options.secret_cache_ms = 0;
  EXPECT_EQ(deliver(b, signed_by("plane_wh_next", b)).status, 503);
}

TEST_F(IntakeTest, AWorkspaceUninstalledWhileCachedIsA404OnceTheCheckFails) {
  options.secret_cache_ms = 60000;
  const std::string a = body("a");
  ASSERT_EQ(deliver(a, signed_by(kSecret, a)).status, 200);
  port.secrets.erase("acme");
  const std::string b = body("b");
  EXPECT_EQ(deliver(b, signed_by("plane_wh_other", b)).status, 404);
  EXPECT_EQ(port.reads, 2);
  EXPECT_TRUE(cache.get("acme", port.now, 60000).empty());  // forgotten
}

TEST_F(IntakeTest, AFreshlyReadSecretIsNotReadAgainForAFailedCheck) {
  const std::string b = body();
  EXPECT_EQ(deliver(b, signed_by("plane_wh_wrong", b)).status, 401);
  EXPECT_EQ(port.reads, 1);
  // And the cached secret stays usable for the next, correctly signed delivery.
  EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 200);
  EXPECT_EQ(port.reads, 1);
}

TEST_F(IntakeTest, NothingIsReadOrCountedForARefusedSlugOrAnUnservedDatabase) {
  const std::string b = body();
  EXPECT_EQ(deliver(b, signed_by(kSecret, b), "-acme").status, 404);
  EXPECT_EQ(deliver(b, signed_by(kSecret, b), std::string(49, 'a')).status, 404);
  EXPECT_EQ(port.reads, 0);
  port.unserved = "standby";
  EXPECT_EQ(deliver(b, signed_by(kSecret, b)).status, 503);
  EXPECT_EQ(port.reads, 0);
  EXPECT_TRUE(port.counts.empty());
  EXPECT_TRUE(port.enqueued_keys.empty());
}

TEST_F(IntakeTest, AnUnknownEventIsKeptAsIgnoredAndWakesNoWorker) {
  const std::string b = body("u1", "milestone.created");
  const plane::IntakeResult r = deliver(b, signed_by(kSecret, b));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.enqueued);
  EXPECT_EQ(port.statuses, (std::vector<std::string>{"ignored"}));
  EXPECT_EQ(port.counts[IntakeCounter::Accepted], 1);
}

TEST(SecretCache, KeepsWithinTheTimeWipesAfterAndForgets) {
  plane::SecretCache cache;
  cache.put("acme", "s1", 1000);
  cache.put("globex", "s2", 1500);
  EXPECT_EQ(cache.get("acme", 1999, 1000), "s1");
  EXPECT_TRUE(cache.get("acme", 2000, 1000).empty());
  EXPECT_TRUE(cache.get("acme", 1000, 0).empty());  // ttl 0: off
  EXPECT_EQ(cache.wipe_expired(2100, 1000), 2500);  // acme wiped; globex lapses at 2500
  EXPECT_TRUE(cache.get("acme", 1001, 1000).empty());
  EXPECT_EQ(cache.get("globex", 2100, 1000), "s2");
  cache.forget("globex");
  EXPECT_TRUE(cache.get("globex", 1600, 1000).empty());
  EXPECT_EQ(cache.wipe_expired(2100, 1000), 0);
  cache.put("acme", std::string(plane::SecretCache::kMaxSecret + 1, 'x'), 1000);  // too long: not kept
  EXPECT_TRUE(cache.get("acme", 1000, 1000).empty());
  for (int i = 0; i < 20; ++i) cache.put("ws" + std::to_string(i), "s", 1000 + i);  // more than the slots
  EXPECT_EQ(cache.get("ws19", 1019, 1000), "s");
  EXPECT_TRUE(cache.get("ws0", 1019, 1000).empty());  // the oldest went
  cache.wipe_all();
  EXPECT_TRUE(cache.get("ws19", 1019, 1000).empty());
}

}  // namespace
