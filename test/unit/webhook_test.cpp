// Unit tests of the webhook modules: authentication over the raw body bytes (webhook_auth), v1/v2
// envelope parsing and idempotency keys (webhook_envelope), malformed and hostile bodies, and the
// mirror change an applied event produces, its object in the REST API's shape (webhook_change).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <string>

#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/webhook_auth.hpp"
#include "core/webhook_change.hpp"
#include "core/webhook_envelope.hpp"

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using plane::HeaderMap;
using plane::MirrorOp;
using plane::WebhookEvent;
using plane::WebhookVerdict;

const char* const kSecret = "plane_wh_0123456789abcdef0123456789abcdef";
const char* const kItemId = "e1c25c6f-8a54-4b4e-9a8f-6e8bb4e1e1a1";
const char* const kProjectId = "4af68566-94a4-4eb3-94aa-50dc9427067b";
const char* const kStateId = "f3f045db-7e74-49f2-b3b2-1b4b8d9d1c1e";
const char* const kLabel1 = "b4c2e1a0-0000-4000-8000-000000000001";
const char* const kUser1 = "c5d3f2b1-0000-4000-8000-000000000001";

// Exactly what OSS Plane sends: Python's json.dumps(payload) with its default
// ", " / ": " separators and ensure_ascii (é -> \u00e9, — -> \u2014, 日本 -> \u65e5\u672c),
// signed by hmac.new(secret, body, sha256).hexdigest(). Both strings were produced by Python 3.11.
const char* const kPythonBody =
    R"({"event": "issue", "action": "updated", "webhook_id": "5f0c8a52-1b7e-4f0a-9d3c-2a6b1e9f7c11", )"
    R"("workspace_id": "a0a0a0a0-0000-4000-8000-000000000000", "data": {"id": "e1c25c6f-8a54-4b4e-9a8f-6e8bb4e1e1a1", )"
    R"("name": "Caf\u00e9 r\u00e9sum\u00e9 \u2014 \u65e5\u672c", "created_at": "2026-03-01T11:35:09.123456Z", )"
    R"("updated_at": "2026-03-02T08:00:00.000001Z", "priority": "high", "sequence_id": 42, )"
    R"("project": "4af68566-94a4-4eb3-94aa-50dc9427067b", "state": {"id": "f3f045db-7e74-49f2-b3b2-1b4b8d9d1c1e", )"
    R"("name": "In Progress", "color": "#f59e0b", "group": "started"}, "labels": [{"id": "b4c2e1a0-0000-4000-8000-000000000001", )"
    R"("name": "bug", "color": "#ff0000"}], "assignees": [{"id": "c5d3f2b1-0000-4000-8000-000000000001", )"
    R"("first_name": "Ren\u00e9e", "last_name": "M\u00fcller", "display_name": "renee"}], "parent": null, )"
    R"("start_date": "2026-03-01", "target_date": null, "completed_at": null, "archived_at": null}, )"
    R"("activity": {"field": "name", "new_value": "Caf\u00e9 r\u00e9sum\u00e9 \u2014 \u65e5\u672c", "old_value": "Cafe", )"
    R"("actor": {"id": "c5d3f2b1-0000-4000-8000-000000000001", "display_name": "renee"}, "old_identifier": null, )"
    R"("new_identifier": null}})";
const char* const kPythonSignature = "5851826cd6671518e18e08e85efc562b329a943a3ef7787e17ea083d3a3bfff0";

HeaderMap signed_headers(const std::string& body, const std::string& delivery = "d-1") {
  return HeaderMap{{"content-type", "application/json"},
                   {"x-plane-delivery", delivery},
                   {"x-plane-signature", plane::hmac_sha256_hex(kSecret, body)}};
}

// A v1 envelope in Plane's key order.
ordered_json v1_payload(const std::string& event = "issue", const std::string& action = "updated",
                        const std::string& updated_at = "2026-03-02T08:00:00.000001Z",
                        const json& field = "name") {
  ordered_json data = {{"id", kItemId},
                       {"name", "Fix the sync"},
                       {"updated_at", updated_at},
                       {"project", kProjectId},
                       {"state", {{"id", kStateId}, {"name", "Todo"}, {"group", "unstarted"}}},
                       {"labels", ordered_json::array({{{"id", kLabel1}, {"name", "bug"}}})},
                       {"assignees", ordered_json::array({{{"id", kUser1}, {"display_name", "r"}}})}};
  return ordered_json{{"event", event},
                      {"action", action},
                      {"webhook_id", "5f0c8a52-1b7e-4f0a-9d3c-2a6b1e9f7c11"},
                      {"workspace_id", "a0a0a0a0-0000-4000-8000-000000000000"},
                      {"data", data},
                      {"activity",
                       {{"field", field}, {"new_value", "x"}, {"old_value", "y"}, {"actor", nullptr}}}};
}

ordered_json v2_payload(const std::string& event, const std::string& event_id = "9d508cd9-36c2-44a5-928d-7ee2f2a3b8a8",
                        const std::string& delivery_id = "2a0d0510-9052-446e-a1c7-a704bbd68cba") {
  return ordered_json{{"version", "v2"},
                      {"delivery_id", delivery_id},
                      {"event_id", event_id},
                      {"entity_id", kItemId},
                      {"entity_type", "workitem"},
                      {"event", event},
                      {"webhook_id", "8944ed18-1331-4eae-b9bb-7c40864b8abd"},
                      {"workspace_id", "b54ecb0d-e3eb-4986-b238-f83fd8665e65"},
                      {"data",
                       {{"id", kItemId},
                        {"name", "webhook test"},
                        {"project_id", kProjectId},
                        {"updated_at", "2026-03-31T17:14:41.249304+05:30"}}},
                      {"previous_attributes", {{"name", "old"}}}};
}

WebhookEvent parse(const std::string& body, const std::string& delivery = "d-1") {
  return plane::parse_webhook(body, signed_headers(body, delivery));
}

plane::WebhookResult handle(const std::string& body) {
  return plane::handle_webhook(kSecret, body, signed_headers(body));
}

// The mirror change of an event (a copy of it: webhook_mirror_change takes its event over).
std::optional<plane::WebhookMirrorChange> change_of(const WebhookEvent& ev) {
  return plane::webhook_mirror_change(WebhookEvent(ev));
}

plane::WebhookAuthOptions limit(std::size_t bytes) {
  plane::WebhookAuthOptions o;
  o.max_body_bytes = bytes;
  return o;
}

// -------------------------------------------------------------------------------- signatures

TEST(WebhookHmac, MatchesRfc4231Vectors) {
  EXPECT_EQ(plane::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(plane::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(plane::hmac_sha256_hex("", "").size(), 64u);  // empty key and data are fine
}

TEST(WebhookSignature, AcceptsLowercaseHex) {
  const std::string body = R"({"event": "project"})";
  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body, signed_headers(body)));
}

TEST(WebhookSignature, AcceptsUppercaseHexAndSurroundingBlanks) {
  const std::string body = R"({"event": "project"})";
  std::string sig = plane::hmac_sha256_hex(kSecret, body);
  for (char& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", sig}}));
  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", " " + sig + "\t"}}));
}

TEST(WebhookSignature, RejectsMismatchMissingAndWrongLength) {
  const std::string body = R"({"event": "project"})";
  const std::string sig = plane::hmac_sha256_hex(kSecret, body);
  std::string flipped = sig;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", flipped}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-delivery", "d-1"}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", ""}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", sig.substr(0, 63)}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", sig + "0"}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", sig + sig}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", "sha256=" + sig}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-signature", std::string(64, 'g')}}));
  // Right signature, other secret or other body.
  EXPECT_FALSE(plane::verify_webhook_signature("plane_wh_other", body, {{"x-plane-signature", sig}}));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body + " ", {{"x-plane-signature", sig}}));
}

TEST(WebhookSignature, EmptySecretNeverVerifies) {
  const std::string body = R"({"event": "project"})";
  EXPECT_FALSE(plane::verify_webhook_signature("", body, {{"x-plane-signature", plane::hmac_sha256_hex("", body)}}));
  EXPECT_FALSE(plane::verify_webhook_signature("", body, {{"x-plane-webhook-secret", ""}}, true));
  auto r = plane::handle_webhook("", body, {{"x-plane-signature", plane::hmac_sha256_hex("", body)}});
  EXPECT_EQ(r.verdict, WebhookVerdict::Unauthorized);
  EXPECT_EQ(plane::webhook_http_status(r.verdict), 401);
}

TEST(WebhookSignature, SharedSecretHeaderForProxiesOnlyWhenAllowed) {
  const std::string body = R"({"event": "project"})";
  // Off by default: a header carrying the secret itself is not a credential unless allowed.
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-webhook-secret", kSecret}}));
  plane::WebhookAuthOptions allowed;
  allowed.accept_secret_header = true;
  std::string message;
  EXPECT_EQ(plane::check_webhook_request(kSecret, body, {{"x-plane-webhook-secret", kSecret}}, {}, message),
            WebhookVerdict::Unauthorized);
  EXPECT_EQ(plane::check_webhook_request(kSecret, body, {{"x-plane-webhook-secret", kSecret}}, allowed, message),
            WebhookVerdict::Accepted);

  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-webhook-secret", kSecret}}, true));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-webhook-secret", "plane_wh_0123"}}, true));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body,
                                               {{"x-plane-webhook-secret", std::string(kSecret) + "x"}}, true));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, {{"x-plane-webhook-secret", ""}}, true));
  // Either credential suffices: a proxy that re-encoded the body (signature now wrong) still passes.
  EXPECT_TRUE(plane::verify_webhook_signature(
      kSecret, body, {{"x-plane-signature", std::string(64, '0')}, {"x-plane-webhook-secret", kSecret}}, true));
  EXPECT_FALSE(plane::verify_webhook_signature(
      kSecret, body, {{"x-plane-signature", std::string(64, '0')}, {"x-plane-webhook-secret", kSecret}}));
}

TEST(WebhookSignature, HeaderNamesAreCaseInsensitiveButNeverAmbiguous) {
  const std::string body = R"({"event": "project"})";
  const std::string sig = plane::hmac_sha256_hex(kSecret, body);
  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body, {{"X-Plane-Signature", sig}}));
  EXPECT_FALSE(plane::verify_webhook_signature(
      kSecret, body, {{"X-Plane-Signature", sig}, {"x-plane-signature", std::string(64, '0')}}));
}

TEST(WebhookHeaders, FromJsonLowercasesAndCombines) {
  HeaderMap h = plane::headers_from_json(json::parse(
      R"({"X-Plane-Delivery": "abc", "Content-Length": 12, "Accept": ["a", "b"], "X-Odd": {"k": 1}})"));
  EXPECT_EQ(h.at("x-plane-delivery"), "abc");
  EXPECT_EQ(h.at("content-length"), "12");
  EXPECT_EQ(h.at("accept"), "a, b");
  EXPECT_EQ(h.count("x-odd"), 0u);
  EXPECT_TRUE(plane::headers_from_json(json::array()).empty());

  // Two spellings of the signature header combine into one value, which no longer verifies.
  const std::string body = R"({"event": "project"})";
  const std::string sig = plane::hmac_sha256_hex(kSecret, body);
  HeaderMap twice = plane::headers_from_json(json{{"X-Plane-Signature", sig}, {"x-plane-signature", sig}});
  EXPECT_EQ(twice.size(), 1u);
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, body, twice));
  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body,
                                              plane::headers_from_json(json{{"X-Plane-Signature", sig}})));
}

// The raw-bytes point: the signature covers Python's exact bytes, and any
// JSON round trip (nlohmann's compact or ASCII-escaped output) changes them.
TEST(WebhookSignature, VerifiesPythonBytesAndFailsAfterReserialisation) {
  const std::string body = kPythonBody;
  EXPECT_EQ(plane::hmac_sha256_hex(kSecret, body), kPythonSignature);
  HeaderMap headers{{"x-plane-signature", kPythonSignature}};
  EXPECT_TRUE(plane::verify_webhook_signature(kSecret, body, headers));

  const ordered_json doc = ordered_json::parse(body);  // keeps Plane's key order
  const std::string compact = doc.dump();
  const std::string ascii = doc.dump(-1, ' ', /*ensure_ascii=*/true);
  ASSERT_NE(compact, body);
  ASSERT_NE(ascii, body);
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, compact, headers));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, ascii, headers));
  EXPECT_FALSE(plane::verify_webhook_signature(kSecret, json::parse(body).dump(), headers));

  auto r = plane::handle_webhook(kSecret, body, headers);
  ASSERT_EQ(r.verdict, WebhookVerdict::Accepted) << r.message;
  EXPECT_EQ(r.event->data["name"], "Caf\u00e9 r\u00e9sum\u00e9 \u2014 \u65e5\u672c");
}

// -------------------------------------------------------------------------------- v1 parsing

TEST(WebhookV1, ParsesEnvelopeAndMapsExpandedWorkItem) {
  WebhookEvent ev = plane::parse_webhook(kPythonBody, {{"x-plane-delivery", "0b5c7d3e"}});
  EXPECT_EQ(ev.version, "v1");
  EXPECT_EQ(ev.event, "issue");
  EXPECT_EQ(ev.action, "updated");
  EXPECT_EQ(ev.entity_type, "work_item");
  EXPECT_EQ(ev.entity_id, kItemId);
  EXPECT_EQ(ev.project_id, kProjectId);
  EXPECT_EQ(ev.workspace_id, "a0a0a0a0-0000-4000-8000-000000000000");
  EXPECT_EQ(ev.delivery_id, "0b5c7d3e");
  EXPECT_EQ(ev.updated_at, std::optional<std::string>("2026-03-02T08:00:00.000001Z"));
  EXPECT_TRUE(ev.known);
  EXPECT_FALSE(ev.is_delete);
  EXPECT_FALSE(ev.is_archive);

  auto change = change_of(ev);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->op, MirrorOp::Upsert);
  EXPECT_EQ(change->table, plane::MirrorTable::Items);
  EXPECT_EQ(change->plane_id, kItemId);
  EXPECT_EQ(change->row["item_type"], "issue");
  EXPECT_EQ(change->row["state_plane_id"], kStateId);
  EXPECT_EQ(change->row["label_ids"], json::array({kLabel1}));
  EXPECT_EQ(change->row["assignee_ids"], json::array({kUser1}));
  EXPECT_EQ(change->row["project_plane_id"], kProjectId);
  EXPECT_EQ(change->row["sequence_id"], 42);
  EXPECT_EQ(change->row["plane_updated_at"], "2026-03-02T08:00:00.000001Z");
}

TEST(WebhookV1, IdempotencyKeyIdentifiesTheChangeNotTheDelivery) {
  const std::string body = v1_payload().dump();
  const WebhookEvent first = parse(body, "delivery-1");
  const WebhookEvent again = parse(body, "delivery-1");
  const WebhookEvent retry = parse(body, "delivery-2");  // Plane retry: new X-Plane-Delivery
  EXPECT_EQ(first.idempotency_key.rfind("plane:event:", 0), 0u);
  EXPECT_EQ(first.idempotency_key.size(), std::string("plane:event:").size() + 64);
  EXPECT_EQ(first.idempotency_key, again.idempotency_key);
  EXPECT_EQ(first.idempotency_key, retry.idempotency_key);
  EXPECT_NE(first.delivery_id, retry.delivery_id);

  // Re-serialised differently (same content): same key.
  EXPECT_EQ(parse(json::parse(body).dump(2)).idempotency_key, first.idempotency_key);
  // The same instant in another offset: same key.
  EXPECT_EQ(parse(v1_payload("issue", "updated", "2026-03-02T13:30:00.000001+05:30").dump()).idempotency_key,
            first.idempotency_key);

  // One delivery per changed field (Plane's fan-out): different keys.
  EXPECT_NE(parse(v1_payload("issue", "updated", "2026-03-02T08:00:00.000001Z", "priority").dump()).idempotency_key,
            first.idempotency_key);
  EXPECT_NE(parse(v1_payload("issue", "updated", "2026-03-02T08:00:00.000001Z", nullptr).dump()).idempotency_key,
            first.idempotency_key);
  EXPECT_NE(parse(v1_payload("issue", "updated", "2026-03-02T08:00:00.000002Z").dump()).idempotency_key,
            first.idempotency_key);
  EXPECT_NE(parse(v1_payload("issue", "created").dump()).idempotency_key, first.idempotency_key);
  EXPECT_NE(parse(v1_payload("project").dump()).idempotency_key, first.idempotency_key);
  ordered_json other = v1_payload();
  other["data"]["id"] = "00000000-0000-4000-8000-000000000001";
  EXPECT_NE(parse(other.dump()).idempotency_key, first.idempotency_key);
}

TEST(WebhookV1, DigestJoinsPartsUnambiguously) {
  // ("ab", "c") and ("a", "bc") must not collide; nor an absent field and the string "null".
  const auto key = [](const std::string& event, const std::string& action, const json& field) {
    ordered_json p{{"event", event}, {"action", action}, {"data", {{"id", "x"}}}, {"activity", {{"field", field}}}};
    return parse(p.dump()).idempotency_key;
  };
  EXPECT_NE(key("ab", "c", "f"), key("a", "bc", "f"));
  EXPECT_NE(key("a", "b", nullptr), key("a", "b", "null"));
  EXPECT_NE(key("a", "b", nullptr), key("a", "b", ""));
}

TEST(WebhookV1, ProjectDeletedIsADelete) {
  ordered_json p{{"event", "project"},
                 {"action", "deleted"},
                 {"webhook_id", "w"},
                 {"workspace_id", "ws"},
                 {"data", {{"id", kProjectId}}},
                 {"activity", {{"field", nullptr}}}};
  WebhookEvent ev = parse(p.dump());
  EXPECT_TRUE(ev.known);
  EXPECT_TRUE(ev.is_delete);
  EXPECT_EQ(ev.entity_type, "project");
  EXPECT_EQ(ev.project_id, kProjectId);
  auto change = change_of(ev);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->op, MirrorOp::Delete);
  EXPECT_EQ(change->table, plane::MirrorTable::Projects);
  EXPECT_EQ(change->plane_id, kProjectId);
  EXPECT_TRUE(change->row.is_null());
}

TEST(WebhookV1, CycleAndModuleMapToItems) {
  ordered_json cycle{{"event", "cycle"},
                     {"action", "created"},
                     {"data",
                      {{"id", "c-1"}, {"project", kProjectId}, {"name", "Sprint 1"},
                       {"start_date", "2026-03-01T00:00:00+05:30"}, {"end_date", "2026-03-14T00:00:00Z"},
                       {"updated_at", "2026-03-01T10:00:00Z"}}},
                     {"activity", {{"field", nullptr}}}};
  auto c = plane::webhook_mirror_change(parse(cycle.dump()));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->table, plane::MirrorTable::Items);
  EXPECT_EQ(c->row["item_type"], "cycle");
  EXPECT_EQ(c->row["project_plane_id"], kProjectId);

  ordered_json module{{"event", "module"},
                      {"action", "updated"},
                      {"data", {{"id", "m-1"}, {"project", kProjectId}, {"members", {kUser1}}, {"status", "planned"}}},
                      {"activity", {{"field", "status"}}}};
  auto m = plane::webhook_mirror_change(parse(module.dump()));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->row["item_type"], "module");
  EXPECT_EQ(m->row["assignee_ids"], json::array({kUser1}));
  EXPECT_EQ(m->row["status"], "planned");
}

TEST(WebhookV1, CommentsAndUnknownEventsAreAcceptedNotApplied) {
  for (const char* event : {"issue_comment", "cycle_issue", "intake_issue", "something_new"}) {
    ordered_json p{{"event", event}, {"action", "created"}, {"data", {{"id", "x"}}}, {"activity", nullptr}};
    auto r = handle(p.dump());
    ASSERT_EQ(r.verdict, WebhookVerdict::Accepted) << event << ": " << r.message;
    EXPECT_FALSE(r.event->known) << event;
    EXPECT_FALSE(change_of(*r.event).has_value()) << event;
    EXPECT_FALSE(r.event->idempotency_key.empty());
  }
  EXPECT_EQ(parse(R"({"event": "issue_comment", "action": "created", "data": {"id": "x"}})").entity_type, "comment");
  EXPECT_EQ(parse(R"({"event": "cycle_issue", "action": "created", "data": {}})").entity_type, "other");
  // An unknown action of a known type is recorded, not applied.
  EXPECT_FALSE(parse(v1_payload("issue", "restored").dump()).known);
}

// -------------------------------------------------------------------------------- v2 parsing

TEST(WebhookV2, KeyIsEventIdStableAcrossDeliveries) {
  WebhookEvent a = parse(v2_payload("workitem.updated", "ev-1", "delivery-a").dump());
  WebhookEvent b = parse(v2_payload("workitem.updated", "ev-1", "delivery-b").dump(), "other-header");
  EXPECT_EQ(a.idempotency_key, "plane:event:ev-1");
  EXPECT_EQ(b.idempotency_key, "plane:event:ev-1");
  EXPECT_EQ(a.delivery_id, "delivery-a");  // body delivery_id wins over the header
  EXPECT_EQ(b.delivery_id, "delivery-b");
  EXPECT_NE(parse(v2_payload("workitem.updated", "ev-2").dump()).idempotency_key, a.idempotency_key);

  EXPECT_EQ(a.version, "v2");
  EXPECT_EQ(a.event, "workitem.updated");
  EXPECT_EQ(a.action, "updated");
  EXPECT_EQ(a.entity_type, "work_item");
  EXPECT_EQ(a.entity_id, kItemId);
  EXPECT_EQ(a.project_id, kProjectId);
  EXPECT_EQ(a.workspace_id, "b54ecb0d-e3eb-4986-b238-f83fd8665e65");
  EXPECT_EQ(a.updated_at, std::optional<std::string>("2026-03-31T11:44:41.249304Z"));
  EXPECT_TRUE(a.known);
}

TEST(WebhookV2, MissingEventIdFallsBackToAChangeDigest) {
  ordered_json p = v2_payload("workitem.updated");
  p.erase("event_id");
  WebhookEvent a = parse(p.dump(), "x");
  p["delivery_id"] = "another";
  WebhookEvent b = parse(p.dump(), "y");
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.idempotency_key.size(), std::string("plane:event:").size() + 64);
}

TEST(WebhookV2, DeleteUsesPreviousAttributes) {
  ordered_json p = v2_payload("workitem.deleted");
  p["data"] = ordered_json::object();
  p["previous_attributes"] = {{"id", kItemId}, {"project_id", kProjectId}, {"updated_at", "2026-03-31T11:44:41Z"}};
  WebhookEvent ev = parse(p.dump());
  EXPECT_TRUE(ev.known);
  EXPECT_TRUE(ev.is_delete);
  EXPECT_FALSE(ev.is_archive);
  EXPECT_TRUE(ev.data_is_previous);
  EXPECT_EQ(ev.data["id"], kItemId);
  EXPECT_EQ(ev.project_id, kProjectId);
  EXPECT_EQ(ev.updated_at, std::optional<std::string>("2026-03-31T11:44:41.000000Z"));
  auto change = change_of(ev);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->op, MirrorOp::Delete);
  EXPECT_EQ(change->table, plane::MirrorTable::Items);
  EXPECT_EQ(change->plane_id, kItemId);
  EXPECT_EQ(change->project_id, kProjectId);
}

TEST(WebhookV2, ArchiveFlagsAndMirrorOp) {
  // data {} (what the simulator sends): previous_attributes is the pre-archive record, which must
  // not be upserted (it would un-archive the row) -> Archive.
  ordered_json p = v2_payload("project.archived");
  p["entity_id"] = kProjectId;
  p["entity_type"] = "project";
  p["data"] = ordered_json::object();
  p["previous_attributes"] = {{"id", kProjectId}, {"name", "Mirror"}, {"archived_at", nullptr}};
  WebhookEvent ev = parse(p.dump());
  EXPECT_TRUE(ev.known);
  EXPECT_TRUE(ev.is_archive);
  EXPECT_FALSE(ev.is_delete);
  EXPECT_EQ(ev.entity_type, "project");
  EXPECT_EQ(ev.project_id, kProjectId);
  auto change = change_of(ev);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->op, MirrorOp::Archive);
  EXPECT_EQ(change->table, plane::MirrorTable::Projects);
  EXPECT_EQ(change->plane_id, kProjectId);

  // With the archived object in data: an upsert that carries archived_at.
  p["data"] = {{"id", kProjectId}, {"name", "Mirror"}, {"archived_at", "2026-04-01T10:00:00Z"}};
  auto upsert = plane::webhook_mirror_change(parse(p.dump()));
  ASSERT_TRUE(upsert.has_value());
  EXPECT_EQ(upsert->op, MirrorOp::Upsert);
  EXPECT_EQ(upsert->row["archived_at"], "2026-04-01T10:00:00.000000Z");
}

// The docs' own workitem.updated example: scope-enum event name, entity_type
// "issue", "None" for null, *_id foreign keys, +00:00 offsets.
TEST(WebhookV2, ToleratesCloudDocsQuirks) {
  const std::string body = R"({
    "version": "v2", "delivery_id": "2a0d0510-9052-446e-a1c7-a704bbd68cba",
    "event_id": "9d508cd9-36c2-44a5-928d-7ee2f2a3b8a8", "entity_id": "775c5716-5302-4617-bb9f-2cd843911268",
    "entity_type": "issue", "event": "WebhookScope.ScopeChoices.WORK_ITEM_UPDATED",
    "webhook_id": "8944ed18-1331-4eae-b9bb-7c40864b8abd", "workspace_id": "b54ecb0d-e3eb-4986-b238-f83fd8665e65",
    "data": {"id": "775c5716-5302-4617-bb9f-2cd843911268", "name": "webhook test 3", "point": "None",
      "type_id": "None", "is_draft": false, "priority": "none", "state_id": "067b88e5-304b-4221-ba09-94340dcc36e5",
      "label_ids": [], "parent_id": "None", "created_at": "2026-03-31T11:44:41.249292+00:00", "deleted_at": "None",
      "project_id": "59e3be42-87ec-4950-99a3-ae639cf2b089", "sort_order": 75535, "start_date": "None",
      "updated_at": "2026-03-31T11:44:41.249304+00:00", "archived_at": "None", "sequence_id": 3,
      "target_date": "None", "assignee_ids": ["754009ab-3fb5-424e-909a-b46e9c9d0c4f"], "completed_at": "None"},
    "previous_attributes": {"last_activity_at": "2026-03-31 11:44:41.242868+00"}})";
  WebhookEvent ev = parse(body);
  EXPECT_EQ(ev.event, "workitem.updated");
  EXPECT_EQ(ev.action, "updated");
  EXPECT_EQ(ev.entity_type, "work_item");
  EXPECT_EQ(ev.project_id, "59e3be42-87ec-4950-99a3-ae639cf2b089");
  EXPECT_EQ(ev.idempotency_key, "plane:event:9d508cd9-36c2-44a5-928d-7ee2f2a3b8a8");
  EXPECT_EQ(ev.updated_at, std::optional<std::string>("2026-03-31T11:44:41.249304Z"));
  EXPECT_TRUE(ev.known);

  auto change = change_of(ev);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->op, MirrorOp::Upsert);
  const json& row = change->row;
  EXPECT_EQ(row["plane_id"], "775c5716-5302-4617-bb9f-2cd843911268");
  EXPECT_EQ(row["project_plane_id"], "59e3be42-87ec-4950-99a3-ae639cf2b089");
  EXPECT_EQ(row["state_plane_id"], "067b88e5-304b-4221-ba09-94340dcc36e5");
  EXPECT_TRUE(row["parent_plane_id"].is_null());
  EXPECT_EQ(row["assignee_ids"], json::array({"754009ab-3fb5-424e-909a-b46e9c9d0c4f"}));
  EXPECT_EQ(row["label_ids"], json::array());
  EXPECT_TRUE(row["start_date"].is_null());
  EXPECT_TRUE(row["archived_at"].is_null());
  EXPECT_TRUE(row["completed_at"].is_null());
  EXPECT_EQ(row["sequence_id"], 3);
}

TEST(WebhookV2, ScopeEnumNamesOfOtherResources) {
  const auto event_of = [](const std::string& raw, const std::string& entity_type) {
    ordered_json p = v2_payload(raw);
    p["entity_type"] = entity_type;
    return parse(p.dump());
  };
  EXPECT_EQ(event_of("WebhookScope.ScopeChoices.PROJECT_DELETED", "project").event, "project.deleted");
  EXPECT_EQ(event_of("WORK_ITEM_COMMENT_CREATED", "issue").event, "workitem.comment.created");
  EXPECT_EQ(event_of("WORK_ITEM_COMMENT_CREATED", "issue").entity_type, "comment");
  EXPECT_FALSE(event_of("WORK_ITEM_COMMENT_CREATED", "issue").known);
  EXPECT_EQ(event_of("WebhookScope.ScopeChoices.PAGE_COMMENT_UPDATED", "page").event, "page.comment.updated");
  EXPECT_EQ(event_of("WebhookScope.ScopeChoices.CYCLE_ARCHIVED", "cycle").event, "cycle.archived");
}

TEST(WebhookV2, UnsignedEventHeaderOnlyWhenItAgreesWithTheBody) {
  ordered_json p = v2_payload("Something odd");
  p["entity_type"] = "issue";
  const std::string body = p.dump();
  HeaderMap h = signed_headers(body);
  h["x-plane-event"] = "workitem.updated";
  WebhookEvent ev = plane::parse_webhook(body, h);
  EXPECT_EQ(ev.event, "workitem.updated");
  EXPECT_TRUE(ev.known);

  h["x-plane-event"] = "project.deleted";  // contradicts entity_type "issue": ignored
  ev = plane::parse_webhook(body, h);
  EXPECT_EQ(ev.event, "Something odd");
  EXPECT_EQ(ev.entity_type, "work_item");
  EXPECT_FALSE(ev.known);
  EXPECT_FALSE(ev.is_delete);
  EXPECT_EQ(ev.idempotency_key, "plane:event:9d508cd9-36c2-44a5-928d-7ee2f2a3b8a8");

  // A header cannot turn a body that carries the object into a delete.
  h["x-plane-event"] = "workitem.deleted";
  ev = plane::parse_webhook(body, h);
  EXPECT_FALSE(ev.is_delete);
  EXPECT_FALSE(ev.known);
  ordered_json removal = p;
  removal["data"] = ordered_json::object();
  removal["previous_attributes"] = {{"id", kItemId}};
  const std::string removal_body = removal.dump();
  HeaderMap hr = signed_headers(removal_body);
  hr["x-plane-event"] = "workitem.deleted";
  ev = plane::parse_webhook(removal_body, hr);
  EXPECT_TRUE(ev.is_delete);
  EXPECT_TRUE(ev.known);

  // A dotted body event always wins over the header.
  ordered_json q = v2_payload("workitem.updated");
  HeaderMap hq = signed_headers(q.dump());
  hq["x-plane-event"] = "workitem.deleted";
  EXPECT_FALSE(plane::parse_webhook(q.dump(), hq).is_delete);
}

TEST(WebhookV2, CommentsLinksAndOtherEntitiesAreNotApplied) {
  // workitem.comment.created carries entity_type "issue" and the work item in data (docs example).
  for (const char* event : {"workitem.comment.created", "page.comment.deleted", "workitem.link.created",
                            "workitem.vote.created", "milestone.updated", "workitem.relation.deleted"}) {
    auto r = handle(v2_payload(event).dump());
    ASSERT_EQ(r.verdict, WebhookVerdict::Accepted) << event << ": " << r.message;
    EXPECT_FALSE(r.event->known) << event;
    EXPECT_FALSE(change_of(*r.event).has_value()) << event;
  }
  EXPECT_EQ(parse(v2_payload("workitem.comment.created").dump()).entity_type, "comment");
  EXPECT_EQ(parse(v2_payload("page.comment.created").dump()).entity_type, "comment");
  EXPECT_EQ(parse(v2_payload("workitem.link.created").dump()).entity_type, "other");
}

TEST(WebhookV2, ProjectCycleModulePageEvents) {
  ordered_json p = v2_payload("project.updated");
  p["entity_id"] = kProjectId;
  p["entity_type"] = "project";
  p["data"] = {{"id", kProjectId}, {"name", "Mirror"}, {"identifier", "MIR"}, {"network", 2}};
  auto project = plane::webhook_mirror_change(parse(p.dump()));
  ASSERT_TRUE(project.has_value());
  EXPECT_EQ(project->table, plane::MirrorTable::Projects);
  EXPECT_EQ(project->row["identifier"], "MIR");
  EXPECT_EQ(project->project_id, "");

  ordered_json m = v2_payload("module.created");
  m["entity_type"] = "module";
  m["data"] = {{"id", kItemId}, {"project_id", kProjectId}, {"member_ids", {kUser1}}, {"status", "None"}};
  auto module = plane::webhook_mirror_change(parse(m.dump()));
  ASSERT_TRUE(module.has_value());
  EXPECT_EQ(module->row["item_type"], "module");
  EXPECT_EQ(module->row["assignee_ids"], json::array({kUser1}));
  EXPECT_TRUE(module->row["status"].is_null());

  ordered_json pg = v2_payload("page.created");
  pg["entity_type"] = "page";
  pg["data"] = {{"id", kItemId}, {"name", "Wiki"}, {"owned_by_id", kUser1}};
  auto page = plane::webhook_mirror_change(parse(pg.dump()));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->table, plane::MirrorTable::Pages);
  EXPECT_EQ(page->row["owned_by"], kUser1);
  EXPECT_TRUE(page->row["project_plane_id"].is_null());  // workspace page
}

TEST(WebhookV2, OtherVersionsAreRecordedNotApplied) {
  ordered_json p = v2_payload("workitem.updated");
  p["version"] = "v3";
  auto r = handle(p.dump());
  ASSERT_EQ(r.verdict, WebhookVerdict::Accepted) << r.message;
  EXPECT_EQ(r.event->version, "v3");
  EXPECT_FALSE(r.event->known);
  // "v1" spelled out is the v1 envelope.
  ordered_json v1 = v1_payload();
  v1["version"] = "v1";
  EXPECT_TRUE(parse(v1.dump()).known);
}

TEST(WebhookV2, KnownEventWithoutAnyIdIsMalformed) {
  ordered_json p = v2_payload("workitem.updated");
  p.erase("entity_id");
  p["data"].erase("id");
  auto r = handle(p.dump());
  EXPECT_EQ(r.verdict, WebhookVerdict::Malformed);
  EXPECT_NE(r.message.find("entity_id"), std::string::npos);
}

// -------------------------------------------------------------------------------- bad bodies

TEST(WebhookMalformed, RejectsNonJsonNonObjectsAndMissingEvent) {
  for (const std::string body :
       {"", "not json", "{", "}", "[]", "[1, 2]", "\"issue\"", "42", "null", "true", "{}",
        R"({"event": 5})", R"({"event": ""})", R"({"event": null})", R"({"event": ["issue"]})",
        R"({"action": "updated", "data": {"id": "x"}})", R"({"event": "issue"} trailing)",
        R"({"event": "issue", "data": {"id": "x"}})",                    // v1 without action
        R"({"event": "issue", "action": "updated", "data": {}})",        // known v1 without id
        R"({"event": "issue", "action": "updated", "data": "x"})",       // data not an object
        R"({"event": "issue", "action": "updated", "data": {"id": 7}})", // id not a string
        R"({"version": 2, "event": "workitem.updated"})", R"({"version": "", "event": "x"})"}) {
    auto r = handle(body);
    EXPECT_EQ(r.verdict, WebhookVerdict::Malformed) << body;
    EXPECT_FALSE(r.event.has_value()) << body;
    EXPECT_FALSE(r.message.empty()) << body;
    EXPECT_THROW(plane::parse_webhook(body, {}), plane::PlaneError) << body;
  }
  try {
    plane::parse_webhook("[1]", {});
    FAIL() << "no throw";
  } catch (const plane::PlaneError& e) {
    EXPECT_EQ(e.kind(), plane::ErrorKind::Parse);
    EXPECT_STREQ(e.what(), "webhook body is not a JSON object");
  }
  EXPECT_EQ(plane::webhook_http_status(WebhookVerdict::Malformed), 400);
}

TEST(WebhookMalformed, AParsedDocumentIsJudgedLikeItsText) {
  // The Postgres layer hands parse_webhook_document the body parsed by jsonb_in: every body that
  // parses as JSON gets the same event, or the same refusal, as from its text.
  for (const std::string& body :
       {std::string("[1, 2]"), std::string("{}"), std::string(R"({"event": 5})"),
        std::string(R"({"event": "issue", "action": "updated", "data": {}})"),
        std::string(R"({"version": 2, "event": "workitem.updated"})"), v1_payload().dump()}) {
    std::optional<WebhookEvent> from_text;
    try {
      from_text = plane::parse_webhook(body, {});
    } catch (const plane::PlaneError&) {
    }
    if (!from_text) {
      EXPECT_THROW(plane::parse_webhook_document(json::parse(body), {}), plane::PlaneError) << body;
      continue;
    }
    const WebhookEvent from_doc = plane::parse_webhook_document(json::parse(body), {});
    EXPECT_EQ(from_doc.idempotency_key, from_text->idempotency_key);
    EXPECT_EQ(from_doc.event, from_text->event);
    EXPECT_EQ(from_doc.known, from_text->known);
    EXPECT_EQ(from_doc.data, from_text->data);
  }
}

TEST(WebhookMalformed, CheckRequestStopsBeforeParsing) {
  std::string message;
  const std::string body = v1_payload().dump();
  EXPECT_EQ(plane::check_webhook_request(kSecret, body, signed_headers(body), limit(1 << 20), message),
            WebhookVerdict::Accepted);
  EXPECT_TRUE(message.empty());
  EXPECT_EQ(plane::check_webhook_request(kSecret, "not json", signed_headers("not json"), limit(1 << 20),
                                         message),
            WebhookVerdict::Accepted);  // authenticated; the JSON is judged by the parser
  EXPECT_EQ(plane::check_webhook_request(kSecret, body, {}, limit(1 << 20), message),
            WebhookVerdict::Unauthorized);
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  EXPECT_EQ(plane::check_webhook_request(kSecret, deep, signed_headers(deep), limit(1 << 20), message),
            WebhookVerdict::Malformed);
  EXPECT_EQ(message.find('['), std::string::npos);
  EXPECT_EQ(plane::check_webhook_request(kSecret, body, signed_headers(body), limit(body.size() - 1), message),
            WebhookVerdict::TooLarge);
}

TEST(WebhookMalformed, MessagesNeverQuoteTheBody) {
  const std::string body = R"({"event": "issue", "action": plane_wh_leaked_secret_value})";
  auto r = handle(body);
  ASSERT_EQ(r.verdict, WebhookVerdict::Malformed);
  EXPECT_EQ(r.message.find("plane_wh_leaked"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("byte"), std::string::npos) << r.message;
}

TEST(WebhookMalformed, AuthenticationComesBeforeParsing) {
  auto r = plane::handle_webhook(kSecret, "not json", {{"x-plane-signature", std::string(64, 'a')}});
  EXPECT_EQ(r.verdict, WebhookVerdict::Unauthorized);
  EXPECT_EQ(r.message, "webhook signature missing or invalid");
}

TEST(WebhookMalformed, TooLargeBeforeAnythingElse) {
  const std::string body = v1_payload().dump();
  auto r = plane::handle_webhook(kSecret, body, {}, limit(body.size() - 1));  // not even signed
  EXPECT_EQ(r.verdict, WebhookVerdict::TooLarge);
  EXPECT_EQ(plane::webhook_http_status(r.verdict), 413);
  EXPECT_EQ(plane::handle_webhook(kSecret, body, signed_headers(body), limit(body.size())).verdict,
            WebhookVerdict::Accepted);
  EXPECT_EQ(plane::handle_webhook(kSecret, body, signed_headers(body)).verdict, WebhookVerdict::Accepted);
  EXPECT_EQ(plane::webhook_http_status(WebhookVerdict::Accepted), 200);
}

TEST(WebhookMalformed, DeepNestingIsRejectedWithoutRecursion) {
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& body :
       {std::string(100000, '['), std::string(100000, '[') + std::string(100000, ']'),
        R"({"event": "issue", "action": "updated", "data": )" + std::string(100000, '[') +
            std::string(100000, ']') + "}",
        [] {
          std::string s;
          for (int i = 0; i < 50000; ++i) s += "{\"a\":";
          return s + "1" + std::string(50000, '}');
        }()}) {
    auto r = handle(body);
    EXPECT_EQ(r.verdict, WebhookVerdict::Malformed);
    EXPECT_NE(r.message.find("nests deeper"), std::string::npos) << r.message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(WebhookMalformed, NestingLimitIsExactAndIgnoresStrings) {
  const auto nested = [](int depth) {
    // The envelope is depth 2 ({ and "data": {); the rest is arrays inside data.
    return R"({"event": "issue", "action": "updated", "data": {"id": "x", "deep": )" +
           std::string(depth - 2, '[') + std::string(depth - 2, ']') + "}}";
  };
  const int limit = plane::kMaxJsonDepth;
  EXPECT_EQ(plane::json_nesting_depth(nested(64)), 64);
  EXPECT_EQ(handle(nested(limit)).verdict, WebhookVerdict::Accepted);
  EXPECT_EQ(handle(nested(limit + 1)).verdict, WebhookVerdict::Malformed);

  // Brackets and escaped quotes inside strings do not count.
  const std::string in_string = R"({"event": "issue", "action": "updated", "data": {"id": "x", "name": ")" +
                                std::string(1000, '[') + R"(\"[[[\\"}})";
  EXPECT_EQ(plane::json_nesting_depth(in_string), 2);
  EXPECT_EQ(handle(in_string).verdict, WebhookVerdict::Accepted);
  EXPECT_EQ(plane::json_nesting_depth("[[]]"), 2);
  EXPECT_EQ(plane::json_nesting_depth("]]]][[", 64), 2);
  EXPECT_EQ(plane::json_nesting_depth(std::string(10, '['), 5), 6);
}

TEST(WebhookMalformed, HugeNumbersAndBadUtf8DoNotCrash) {
  // Out of double range: nlohmann refuses it (out_of_range), reported as Malformed.
  auto big = handle(R"({"event": "issue", "action": "updated", "data": {"id": "x", "n": 1e999999}})");
  EXPECT_EQ(big.verdict, WebhookVerdict::Malformed);
  // A long integer becomes a double: harmless, accepted; a huge sequence_id is not a typed column.
  auto wide = handle(R"({"event": "issue", "action": "updated", "data": {"id": "x", "sequence_id": )" +
                     std::string(30, '9') + "}}");
  ASSERT_EQ(wide.verdict, WebhookVerdict::Accepted) << wide.message;
  EXPECT_TRUE(change_of(*wide.event)->row["sequence_id"].is_null());

  for (const std::string& body : {
           std::string("{\"event\": \"issue\xff\xfe\", \"action\": \"updated\"}"),
           std::string("{\"event\": \"\xc0\xaf\", \"action\": \"updated\"}"),  // overlong
           std::string(R"({"event": "\ud800", "action": "updated"})"),          // lone surrogate
           std::string("{\"event\": \"a\0b\", \"action\": \"x\"}", 32),          // raw NUL
           std::string("\xef\xbb\xbf{\"event\": \"issue\"}"),                   // BOM + missing action
       }) {
    EXPECT_EQ(handle(body).verdict, WebhookVerdict::Malformed);
  }
}

TEST(WebhookVerdicts, Names) {
  EXPECT_STREQ(plane::webhook_verdict_name(WebhookVerdict::Accepted), "accepted");
  EXPECT_STREQ(plane::webhook_verdict_name(WebhookVerdict::Unauthorized), "unauthorized");
  EXPECT_STREQ(plane::webhook_verdict_name(WebhookVerdict::Malformed), "malformed");
  EXPECT_STREQ(plane::webhook_verdict_name(WebhookVerdict::TooLarge), "too_large");
}

}  // namespace
