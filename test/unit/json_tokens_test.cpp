// Unit tests for src/core/json_tokens: building nlohmann::json from the flat token stream the
// Postgres layer reads out of jsonb (no text round trip), and refusing streams that are not JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/json_tokens.hpp"
#include "core/webhook_envelope.hpp"

namespace {

using nlohmann::json;
using plane::JsonToken;
using K = plane::JsonTokenKind;

JsonToken tok(K kind, const char* text = nullptr) {
  return JsonToken{kind, text, text != nullptr ? std::string(text).size() : 0};
}

// Tokens for a document, as flatten_jsonb would emit them (text parsed by nlohmann for the test).
void flatten(const json& j, std::vector<std::string>& texts, std::vector<std::pair<K, int>>& out) {
  auto text = [&](std::string s) {
    texts.push_back(std::move(s));
    return static_cast<int>(texts.size()) - 1;
  };
  if (j.is_object()) {
    out.emplace_back(K::BeginObject, -1);
    for (auto it = j.begin(); it != j.end(); ++it) {
      out.emplace_back(K::Key, text(it.key()));
      flatten(it.value(), texts, out);
    }
    out.emplace_back(K::EndObject, -1);
  } else if (j.is_array()) {
    out.emplace_back(K::BeginArray, -1);
    for (const auto& e : j) flatten(e, texts, out);
    out.emplace_back(K::EndArray, -1);
  } else if (j.is_string()) {
    out.emplace_back(K::String, text(j.get<std::string>()));
  } else if (j.is_number()) {
    out.emplace_back(K::Number, text(j.dump()));
  } else if (j.is_boolean()) {
    out.emplace_back(j.get<bool>() ? K::True : K::False, -1);
  } else {
    out.emplace_back(K::Null, -1);
  }
}

// A document's tokens; the texts they point into live in the struct.
struct Tokens {
  std::vector<std::string> texts;
  std::vector<JsonToken> tokens;
  explicit Tokens(const json& j) {
    std::vector<std::pair<K, int>> spec;
    texts.reserve(4096);  // no reallocation: tokens point into these strings
    flatten(j, texts, spec);
    for (const auto& [kind, index] : spec) {
      tokens.push_back(index < 0 ? JsonToken{kind, nullptr, 0}
                                 : JsonToken{kind, texts[index].data(), texts[index].size()});
    }
  }
};

json round_trip(const json& j, int max_depth = 64) {
  Tokens t(j);
  return plane::json_from_tokens(t.tokens.data(), t.tokens.size(), max_depth);
}

TEST(JsonTokens, BuildsTheSameDocument) {
  const json doc = json::parse(R"({"event": "issue", "data": {"id": "x", "n": 42, "neg": -7,
      "big": 18446744073709551615, "f": 65535.5, "e": 1e+30, "t": true, "f2": false, "z": null,
      "a": [1, [2, [3]], {"k": "v"}], "empty": {}, "none": [], "s": "line\nbreak \"q\" é"}})");
  EXPECT_EQ(round_trip(doc), doc);
}

TEST(JsonTokens, TopLevelScalarsAndEmptyContainers) {
  EXPECT_EQ(round_trip(json("text")), json("text"));
  EXPECT_EQ(round_trip(json(3)), json(3));
  EXPECT_EQ(round_trip(json(nullptr)), json(nullptr));
  EXPECT_EQ(round_trip(json::object()), json::object());
  EXPECT_EQ(round_trip(json::array()), json::array());
}

TEST(JsonTokens, NumbersReadLikeJsonText) {
  // Integers stay integers, fractions doubles, as nlohmann reads the same text.
  for (const char* text : {"0", "-1", "9223372036854775807", "-9223372036854775808",
                           "18446744073709551615", "1.5", "1e+30", "-0.000001"}) {
    const JsonToken t{K::Number, text, std::string(text).size()};
    EXPECT_EQ(plane::json_from_tokens(&t, 1, 8), json::parse(text)) << text;
  }
}

TEST(JsonTokens, RefusesNumbersJsonCannotHold) {
  const std::string huge = "1e400";
  const JsonToken t{K::Number, huge.data(), huge.size()};
  EXPECT_THROW(plane::json_from_tokens(&t, 1, 8), plane::PlaneError);
  const std::string junk = "12abc";
  const JsonToken u{K::Number, junk.data(), junk.size()};
  EXPECT_THROW(plane::json_from_tokens(&u, 1, 8), plane::PlaneError);
}

TEST(JsonTokens, RefusesMalformedStreams) {
  const std::vector<std::vector<JsonToken>> bad = {
      {},                                                          // no value
      {tok(K::BeginObject)},                                       // unclosed
      {tok(K::EndArray)},                                          // unmatched end
      {tok(K::BeginObject), tok(K::EndArray)},                     // wrong end
      {tok(K::BeginObject), tok(K::String, "v"), tok(K::EndObject)},  // member without key
      {tok(K::BeginObject), tok(K::Key, "k"), tok(K::EndObject)},     // key without value
      {tok(K::BeginArray), tok(K::Key, "k"), tok(K::EndArray)},       // key in an array
      {tok(K::Null), tok(K::Null)},                                // two top-level values
  };
  for (const auto& tokens : bad) {
    EXPECT_THROW(plane::json_from_tokens(tokens.data(), tokens.size(), 8), plane::PlaneError);
  }
}

TEST(JsonTokens, DepthLimitIsExactAndNotRecursive) {
  json deep = json::array();
  for (int i = 0; i < 9; ++i) deep = json::array({deep});  // 10 levels
  EXPECT_EQ(round_trip(deep, 10), deep);
  EXPECT_THROW(round_trip(deep, 9), plane::PlaneError);
  // A million levels: refused at the limit, no stack overflow.
  std::vector<JsonToken> tokens(1000000, tok(K::BeginArray));
  EXPECT_THROW(plane::json_from_tokens(tokens.data(), tokens.size(), 256), plane::PlaneError);
}

TEST(JsonTokens, DuplicateKeysKeepTheLast) {
  const std::vector<JsonToken> tokens = {tok(K::BeginObject), tok(K::Key, "k"), tok(K::String, "a"),
                                         tok(K::Key, "k"),    tok(K::String, "b"), tok(K::EndObject)};
  EXPECT_EQ(plane::json_from_tokens(tokens.data(), tokens.size(), 8), json({{"k", "b"}}));
}

TEST(JsonTokens, PrunedBelowKeepDepthExceptTheWholeMember) {
  const json doc = json::parse(R"({"event": "issue", "data": {"id": "x", "state": {"id": "s"},
      "labels": [{"id": "l"}], "n": 1}, "previous_attributes": {"state": {"id": "old"}},
      "top": [1, [2]]})");
  Tokens t(doc);
  const json pruned = plane::json_from_tokens_pruned(t.tokens.data(), t.tokens.size(), 64, 2,
                                                     "previous_attributes");
  const json expected = json::parse(R"({"event": "issue", "data": {"id": "x", "state": null,
      "labels": null, "n": 1}, "previous_attributes": {"state": {"id": "old"}}, "top": [1, null]})");
  EXPECT_EQ(pruned, expected);
  // Pruned subtrees still count towards the depth limit.
  EXPECT_THROW(plane::json_from_tokens_pruned(t.tokens.data(), t.tokens.size(), 2, 2, ""),
               plane::PlaneError);
}

TEST(JsonTokens, PrunedToNamedMembersAtTheDeepestKeptLevel) {
  const json doc = json::parse(R"({"event": "issue", "n": 7, "data": {"id": "x", "name": "long text",
      "n": 1, "ok": true, "project": "p", "state": {"id": "s"}}, "activity": {"field": "name",
      "actor": "u"}, "previous_attributes": {"name": "old", "n": 2}, "top": ["kept", 3]})");
  Tokens t(doc);
  const json pruned = plane::json_from_tokens_pruned(t.tokens.data(), t.tokens.size(), 64, 2,
                                                     "previous_attributes", {"id", "project", "field"});
  // Of the unnamed members, the first stays with a null value and the others are dropped (the
  // tokens come in nlohmann's key order: "n" is data's first); the whole member and array
  // elements are untouched, and so is the top level.
  const json expected = json::parse(R"({"event": "issue", "n": 7, "data": {"id": "x", "n": null,
      "project": "p"}, "activity": {"field": "name", "actor": null},
      "previous_attributes": {"name": "old", "n": 2}, "top": ["kept", 3]})");
  EXPECT_EQ(pruned, expected);
  // An empty list names no member: nothing is pruned beyond the depth rule.
  const json depth_only =
      plane::json_from_tokens_pruned(t.tokens.data(), t.tokens.size(), 64, 2, "previous_attributes");
  EXPECT_EQ(depth_only["data"]["name"], "long text");
  // A value that is not built is not read either: a number JSON cannot hold does not matter there.
  const std::vector<JsonToken> huge = {tok(K::BeginObject), tok(K::Key, "data"), tok(K::BeginObject),
                                       tok(K::Key, "big"),  tok(K::Number, "1e400"),
                                       tok(K::EndObject),   tok(K::EndObject)};
  EXPECT_EQ(plane::json_from_tokens_pruned(huge.data(), huge.size(), 64, 2, "", {"id"}),
            json::parse(R"({"data": {"big": null}})"));
  // Dropping still needs a well-formed stream: a value without its key is refused.
  const std::vector<JsonToken> keyless = {tok(K::BeginObject), tok(K::Key, "data"), tok(K::BeginObject),
                                          tok(K::Key, "a"),    tok(K::Null),         tok(K::String, "x"),
                                          tok(K::EndObject),   tok(K::EndObject)};
  EXPECT_THROW(plane::json_from_tokens_pruned(keyless.data(), keyless.size(), 64, 2, "", {"id"}),
               plane::PlaneError);
  // Every object gets its own placeholder; dropped containers are still checked for depth.
  const json two = json::parse(R"({"a": {"x": 1, "y": [1]}, "b": {"y": {"z": 2}, "id": 3}})");
  Tokens t2(two);
  EXPECT_EQ(plane::json_from_tokens_pruned(t2.tokens.data(), t2.tokens.size(), 64, 2, "", {"id"}),
            json::parse(R"({"a": {"x": null}, "b": {"y": null, "id": 3}})"));
  EXPECT_THROW(plane::json_from_tokens_pruned(t2.tokens.data(), t2.tokens.size(), 2, 2, "", {"id"}),
               plane::PlaneError);
  EXPECT_THROW(plane::json_from_tokens_pruned(huge.data(), huge.size(), 64, 2, "", {"big"}),
               plane::PlaneError);
}

TEST(JsonTokens, HeadersFromTokensMatchHeadersFromJson) {
  const char* docs[] = {
      R"({"X-Plane-Delivery": "abc", "Content-Length": 12, "Accept": ["a", "b"], "X-Odd": {"k": 1}})",
      R"({"A": 1.50, "B": true, "C": false, "D": null, "E": [], "F": [1, "x", [2, "y"], {"z": "w"}, "v"]})",
      R"({"X-Plane-Signature": "s1", "x-plane-signature": "s2", "X-PLANE-SIGNATURE": ["s3"]})",
      R"({"Nested": {"a": {"b": [1, {"c": 2}]}}, "After": "kept"})",
      R"({})",
      R"([["not", "an", "object"]])",
      R"("text")",
  };
  for (const char* doc : docs) {
    const json headers = json::parse(doc);
    Tokens t(headers);
    EXPECT_EQ(plane::headers_from_tokens(t.tokens.data(), t.tokens.size()), plane::headers_from_json(headers))
        << doc;
  }
  const json headers = json::parse(R"({"Accept": ["a", "b"], "Content-Length": 12})");
  Tokens t(headers);
  EXPECT_EQ(plane::headers_from_tokens(t.tokens.data(), t.tokens.size()).at("accept"), "a, b");
  // No headers at all (SQL NULL), or a stream that is not one value: no headers.
  EXPECT_TRUE(plane::headers_from_tokens(nullptr, 0).empty());
  EXPECT_TRUE(plane::headers_from_tokens(t.tokens.data(), t.tokens.size() - 1).empty());
}

TEST(JsonTokens, EnvelopeFromPrunedTokensMatchesTheFullParse) {
  const char* bodies[] = {
      R"({"event": "issue", "action": "updated", "workspace_id": "w", "data": {"id": "i1",
          "updated_at": "2026-01-02T03:04:05.5+05:30", "project": {"id": "p1"},
          "assignees": [{"id": "u"}]}, "activity": {"field": "name", "actor": {"id": "u"}}})",
      R"({"version": "v2", "event": "workitem.updated", "event_id": "e-1", "entity_id": "i1",
          "entity_type": "issue", "data": {"id": "i1", "state": {"id": "s"}}})",
      R"({"version": "v2", "event": "workitem.deleted", "entity_id": "i1", "entity_type": "issue",
          "data": {}, "previous_attributes": {"id": "i1", "labels": [{"id": "a", "x": [1]}]}})",
      R"({"version": "v2", "event": "workitem.updated", "entity_id": "i1", "entity_type": "issue",
          "data": {"id": "i1"}, "previous_attributes": {"state": {"id": "s0", "deep": [[1]]}}})",
      // data holds only members the envelope does not build: it is still not "empty".
      R"({"version": "v2", "event": "workitem.deleted", "entity_id": "i1", "entity_type": "issue",
          "data": {"name": "n"}, "previous_attributes": {"id": "i1", "project_id": "p0"}})",
      R"({"version": "v2", "event": "workitem.updated", "event_id": "e-2", "entity_type": "issue",
          "data": {"id": "i2", "project_id": "p2", "updated_at": "2026-01-02T03:04:05Z",
          "name": "n", "sort_order": 65535.0}})",
      R"({"event": "issue", "action": "updated", "data": {"id": "i3", "project": "p3",
          "updated_at": 17, "description_html": "<p>x</p>"}, "activity": {"field": 5}})",
  };
  for (const char* body : bodies) {
    const json doc = json::parse(body);
    Tokens t(doc);
    const plane::WebhookEvent full = plane::parse_webhook(body, {});
    const plane::WebhookEvent env = plane::parse_webhook_envelope(t.tokens.data(), t.tokens.size(), {});
    EXPECT_EQ(env.idempotency_key, full.idempotency_key) << body;
    EXPECT_EQ(env.event, full.event) << body;
    EXPECT_EQ(env.known, full.known) << body;
    EXPECT_EQ(env.entity_id, full.entity_id) << body;
    EXPECT_EQ(env.delivery_id, full.delivery_id) << body;
    EXPECT_EQ(env.updated_at, full.updated_at) << body;
    EXPECT_EQ(env.data_is_previous, full.data_is_previous) << body;
    EXPECT_EQ(env.is_delete, full.is_delete) << body;
  }
}

}  // namespace
