#pragma once

// Plane webhooks (plane-api.md §5, §8): authenticate the raw request, then parse the v1 (OSS) or
// v2 (Cloud) envelope into one normalised event with an idempotency key for ops.event_queue, and
// turn an applied event into a mirror change using the mappers of core/mapping.hpp.
//
// Order of work for a request (handle_webhook does exactly this):
//   1. size limit            -> TooLarge     (413)
//   2. signature / secret    -> Unauthorized (401)   — the body is not looked at before this
//   3. envelope parse        -> Malformed    (400)
//   4. Accepted (200): enqueue event.idempotency_key; unknown event types are accepted and
//      recorded (known == false) but not applied.

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace plane {

// Request headers, names lower-cased ("x-plane-signature"). Lookups here are case-insensitive
// anyway; a name present twice under different cases counts as absent (never guessed).
using HeaderMap = std::map<std::string, std::string>;

// Builds a HeaderMap from the request's headers as jsonb ({"X-Plane-Signature": "…", …}): names are
// lower-cased; string values kept, arrays of strings joined with ", " (RFC 9110 field combining),
// numbers rendered, other values dropped; names that collide after lower-casing are joined with
// ", " too (so a doubled signature header no longer verifies). A non-object gives an empty map.
HeaderMap headers_from_json(const nlohmann::json& headers);
// The same from a token stream (core/json_tokens.hpp), without building a document; a stream that
// is not one object gives an empty map, like any other non-object.
HeaderMap headers_from_tokens(const JsonToken* tokens, std::size_t count);

enum class WebhookVerdict { Accepted, Unauthorized, Malformed, TooLarge };

// The HTTP status to answer Plane with: 200, 401, 400, 413.
int webhook_http_status(WebhookVerdict verdict);
const char* webhook_verdict_name(WebhookVerdict verdict);  // "accepted", "unauthorized", …

// Bodies larger than this are refused before any other work (callers may pass their own limit).
inline constexpr std::size_t kDefaultMaxWebhookBodyBytes = 5u * 1024u * 1024u;
// Deepest JSON nesting (arrays + objects) accepted; checked by a linear scan before parsing, so a
// hostile body ("[[[[…") can never drive a recursive parser or destructor into a stack overflow.
inline constexpr int kMaxWebhookJsonDepth = 256;  // rich-text descriptions nest, but not this deep

struct WebhookEvent {
  std::string version;          // "v1", "v2" (another explicit version: kept, known = false)
  std::string event;            // v1: "issue", "project", …; v2: dotted, e.g. "workitem.updated"
  std::string action;           // created|updated|deleted|archived|… (v2: last dotted segment)
  std::string entity_type;      // "project", "work_item", "cycle", "module", "page", "comment", "other"
  std::string entity_id;        // the object's id (v2 entity_id, else data.id)
  std::string project_id;       // where known ("" otherwise); a project's own id for project events
  std::string workspace_id;     // body workspace_id ("" if absent)
  std::string delivery_id;      // per attempt (v2 delivery_id, else X-Plane-Delivery): tracing only
  std::string idempotency_key;  // "plane:event:" + v2 event_id, or + hex SHA-256 of the change (v1)
  std::optional<std::string> updated_at;  // object updated_at, UTC ISO (timestamp.hpp format)
  bool known = false;             // an event we apply (project/work item/cycle/module/page, c/u/d/a)
  bool is_delete = false;         // action "deleted"
  bool is_archive = false;        // action "archived" (v2)
  bool data_is_previous = false;  // v2 delete/archive sent data {}: data is previous_attributes
  nlohmann::json data;            // the object (v1/v2 "data", or previous_attributes as above)
};

// Authenticates a request. True when either
//  - x-plane-signature is the hex HMAC-SHA256(secret, body) — 64 hex digits, either case,
//    surrounding blanks ignored, compared in constant time; or
//  - x-plane-webhook-secret equals secret (for proxies that re-encode the body; compared in
//    constant time via SHA-256 digests, so not even the secret's length leaks).
// False when the secret is empty, both headers are missing, or neither matches.
bool verify_webhook_signature(std::string_view secret, std::string_view body, const HeaderMap& headers);

// Parses an authenticated body (call verify_webhook_signature first). Throws PlaneError(Parse),
// with a message naming the problem (never quoting the body), when the body is not JSON, nests
// deeper than kMaxWebhookJsonDepth, is not an object, has no string "event", or a known event lacks
// what is needed to apply it (v1 "action", an object id). No size limit here: see handle_webhook.
WebhookEvent parse_webhook(std::string_view body, const HeaderMap& headers);

// The same for a body already parsed (the Postgres layer reads it out of jsonb): everything after
// the JSON text itself — not an object, no "event", what a known event lacks. Skip leaves
// idempotency_key empty: the queue worker applies events already keyed at ingest.
enum class WebhookKey { Compute, Skip };
WebhookEvent parse_webhook_document(nlohmann::json doc, const HeaderMap& headers,
                                    WebhookKey key = WebhookKey::Compute);

// The same from a token stream (core/json_tokens.hpp), for accepting a request: the envelope is
// read from a document pruned below data's direct members (previous_attributes kept whole, as the
// key of an event without event_id digests it), and of those members only the ones the envelope
// reads. event.data then holds at most one other member (null, standing for the rest), and
// project_id is not read out of an expanded v1 project object: this event is enqueued, not applied.
WebhookEvent parse_webhook_envelope(const JsonToken* tokens, std::size_t count,
                                    const HeaderMap& headers);

// Steps 1 and 2 of a request, and the nesting check of step 3 (on the raw text): Accepted means
// "authenticated, and safe to parse"; otherwise message says why (never quoting the body).
WebhookVerdict check_webhook_request(std::string_view secret, std::string_view body,
                                     const HeaderMap& headers, std::size_t max_body_bytes,
                                     std::string& message);

struct WebhookResult {
  WebhookVerdict verdict = WebhookVerdict::Malformed;
  std::optional<WebhookEvent> event;  // set iff verdict == Accepted
  std::string message;                // why it was refused; no secret, no body bytes beyond a
                                      // recognised event name ("issue", "workitem.updated")
};

// The whole request in one call: size, then authentication, then parse. Never throws for bad
// input (only std::bad_alloc and the like escape).
WebhookResult handle_webhook(std::string_view secret, std::string_view body, const HeaderMap& headers,
                             std::size_t max_body_bytes = kDefaultMaxWebhookBodyBytes);

// What an applied event does to the mirror.
enum class MirrorOp {
  Upsert,   // row is the mapped object (projects / items / pages)
  Delete,   // mark plane_id gone in table (no row)
  Archive,  // archived, but the payload carried no current object: mark plane_id archived (no row)
};

struct WebhookMirrorChange {
  MirrorOp op = MirrorOp::Upsert;
  std::string table;       // "projects", "items" (item_type in the row) or "pages"
  std::string plane_id;
  std::string project_id;  // "" for projects and workspace pages
  nlohmann::json row;      // Upsert: map_project / map_work_item / map_cycle / map_module / map_page
};

// The mirror change for a known event; nullopt for unknown ones. v2 Cloud payloads name foreign
// keys state_id / label_ids / assignee_ids / parent_id / project_id / member_ids / owned_by_id: those
// fill the typed columns the REST-shaped mappers leave empty ("None" counts as null). Throws
// PlaneError(Parse) when an upsert's object has no id.
std::optional<WebhookMirrorChange> webhook_mirror_change(const WebhookEvent& event);
// The same, taking the event's data over (no copy of the object into the row's raw).
std::optional<WebhookMirrorChange> webhook_mirror_change(WebhookEvent&& event);

// Lowercase hex HMAC-SHA256(key, data) (OpenSSL). 64 characters.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Deepest array/object nesting in a JSON text, counting only brackets outside strings; stops early
// and returns limit + 1 once the depth exceeds limit. Linear, no recursion.
int json_nesting_depth(std::string_view text, int limit = kMaxWebhookJsonDepth);

}  // namespace plane
