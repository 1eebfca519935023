// What an applied webhook event does to the mirror. A row's raw has one shape whatever its source:
// Plane's REST API names foreign keys state, labels, assignees, parent, project… with bare ids and
// real nulls; Plane Cloud's v2 webhooks name them state_id, label_ids, assignee_ids, parent_id,
// project_id… and render nulls as the string "None" and UTC as "+00:00"; Community Edition's v1
// webhooks expand state, labels and assignees into objects. The object is brought to the REST shape
// before it is mapped, so typed columns and raw come out the same as from a sync (the queue keeps
// the delivery as received).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"
#include "core/mapping.hpp"
#include "core/mirror_schema.hpp"
#include "core/webhook_envelope.hpp"

namespace plane {

// `object` (a webhook's data) in the REST API's shape; see above. Members the REST shape already
// has are never overwritten by a renamed one.
nlohmann::json rest_shape(nlohmann::json object);

// The same rules for an object given as tokens (a queued payload's data), as tokens.
OwnedTokens rest_shape_tokens(const JsonToken* tokens, std::size_t count);

enum class MirrorOp {
  Upsert,   // row is the mapped object
  Delete,   // mark plane_id gone (no row)
  Archive,  // archived, but the payload carried no current object: mark plane_id archived (no row)
};

struct WebhookMirrorChange {
  MirrorOp op = MirrorOp::Upsert;
  MirrorTable table = MirrorTable::Items;  // Projects, Items (item_type in the row) or Pages
  std::string plane_id;
  std::string project_id;  // "" for projects and workspace pages
  nlohmann::json row;      // Upsert: the mapped REST-shaped object, its raw included (unless raw_tokens)
  OwnedTokens raw_tokens;  // Upsert of a work item from tokens: its raw, REST-shaped (row has none)
};

// The mirror change for a known event; nullopt for unknown ones. Takes the event's data over.
// Throws PlaneError(Parse) when an upsert's object has no id. `zones` reads cycle calendar days.
std::optional<WebhookMirrorChange> webhook_mirror_change(WebhookEvent&& event,
                                                         CalendarZones* zones = nullptr);

// The same for a queued delivery as tokens (already keyed at ingest). A work item's upsert is
// mapped and shaped from the tokens, with no document built (its raw is raw_tokens); every other
// event goes through the document route above.
std::optional<WebhookMirrorChange> webhook_mirror_change(const JsonToken* tokens, std::size_t count,
                                                         CalendarZones* zones = nullptr);

}  // namespace plane
