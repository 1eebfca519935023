// Reading an authenticated Plane webhook body (call webhook_auth.hpp first): the v1 (Community
// Edition) or v2 (Plane Cloud) envelope becomes one normalised event with an idempotency key for
// ops.event_queue. Unknown event types are accepted and recorded (known == false), not applied.
//
// v1 has no event id, and X-Plane-Delivery changes on every retry: its key digests what identifies
// the change itself (event, action, object, updated_at, changed field). v2 carries event_id, stable
// across retries. v2 deletes and archives send data {} with the record in previous_attributes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"
#include "core/webhook_auth.hpp"

namespace plane {

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

// Parses an authenticated body. Throws PlaneError(Parse), with a message naming the problem (never
// quoting the body), when the body is not JSON, nests deeper than kMaxJsonDepth, is not an object,
// has no string "event", or a known event lacks what is needed to apply it (v1 "action", an id).
WebhookEvent parse_webhook(std::string_view body, const HeaderMap& headers);

// The same for a body already parsed (the Postgres layer reads it out of jsonb): everything after
// the JSON text itself. Skip leaves idempotency_key empty: the queue applies events already keyed
// at ingest.
enum class WebhookKey { Compute, Skip };
WebhookEvent parse_webhook_document(nlohmann::json doc, const HeaderMap& headers,
                                    WebhookKey key = WebhookKey::Compute);

// The same from a token stream, for accepting a request: the envelope is read from a document
// pruned below data's direct members (previous_attributes kept whole, as the key of an event without
// event_id digests it), and of those members only the ones the envelope reads. event.data then
// holds at most one other member (null, standing for the rest): this event is enqueued, not applied.
WebhookEvent parse_webhook_envelope(const JsonToken* tokens, std::size_t count,
                                    const HeaderMap& headers, WebhookKey key = WebhookKey::Compute);

struct WebhookResult {
  WebhookVerdict verdict = WebhookVerdict::Malformed;
  std::optional<WebhookEvent> event;  // set iff verdict == Accepted
  std::string message;                // why it was refused; no secret, no body bytes beyond a
                                      // recognised event name ("issue", "workitem.updated")
};

// The whole request in one call: size, then authentication, then parse. Never throws for bad
// input (only std::bad_alloc and the like escape).
WebhookResult handle_webhook(std::string_view secret, std::string_view body, const HeaderMap& headers,
                             const WebhookAuthOptions& options = {});

}  // namespace plane
