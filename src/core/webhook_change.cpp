#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/webhook_change.hpp"

#include <deque>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/timestamp.hpp"

namespace plane {

using nlohmann::json;

namespace {

// Cloud's v2 names and the REST names they stand for.
constexpr std::pair<const char*, const char*> kRenames[] = {
    {"state_id", "state"},
    {"label_ids", "labels"},
    {"assignee_ids", "assignees"},
    {"parent_id", "parent"},
    {"project_id", "project"},
    {"workspace_id", "workspace"},
    {"estimate_point_id", "estimate_point"},
    {"created_by_id", "created_by"},
    {"updated_by_id", "updated_by"},
    {"owned_by_id", "owned_by"},
    {"lead_id", "lead"},
    {"member_ids", "members"},
    {"default_assignee_id", "default_assignee"},
    {"project_lead_id", "project_lead"},
    {"default_state_id", "default_state"},
    {"estimate_id", "estimate"},
};

// Members holding one reference (v1 expands some into {"id": …, "name": …}).
constexpr const char* kReferences[] = {"state",      "parent",          "project",      "workspace",
                                       "estimate_point", "created_by", "updated_by",   "owned_by",
                                       "lead",       "default_assignee", "project_lead", "default_state",
                                       "estimate",   "type"};
// Members holding a list of references.
constexpr const char* kReferenceLists[] = {"labels", "assignees", "members"};

bool is_datetime_key(std::string_view key) {
  auto ends_with = [&](std::string_view suffix) {
    return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("_at") || ends_with("_date");
}

// A datetime "…+00:00" as the REST API renders UTC ("…Z"); nullopt for any other value.
std::optional<std::string> utc_as_z_text(std::string_view key, std::string_view s) {
  constexpr std::string_view kSuffix = "+00:00";
  if (!is_datetime_key(key) || s.size() <= kSuffix.size() + 10 ||
      s.compare(s.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0 || !parse_timestamp_micros(s)) {
    return std::nullopt;
  }
  std::string out(s.substr(0, s.size() - kSuffix.size()));
  out += 'Z';
  return out;
}

}  // namespace

json rest_shape(json object) {
  if (!object.is_object()) return object;
  // One implementation of the rules: the tokens' (the queue's work items take that route directly).
  const OwnedTokens tokens = json_to_tokens(object);
  const OwnedTokens shaped = rest_shape_tokens(tokens.data(), tokens.size());
  return json_from_tokens(shaped.data(), shaped.size(), kMaxJsonDepth);
}

namespace {

// One member of the object rest_shape_tokens reshapes: its value is the input's tokens
// [first, last), unless replaced by one scalar or, for a reference list, by its ids.
struct ShapedMember {
  std::string_view key;
  std::size_t first = 0, last = 0;
  std::optional<JsonToken> scalar;
  std::optional<std::vector<JsonToken>> ids;
  bool dropped = false;
};

bool is_string_token(const JsonToken& t, std::string_view s) {
  return t.kind == JsonTokenKind::String && std::string_view(t.text, t.len) == s;
}

// reference_id for a value given as tokens: an object's string "id" (else null), anything else as
// it is (nullopt: unchanged).
std::optional<JsonToken> reference_id_token(const JsonToken* tokens, std::size_t first, std::size_t last) {
  if (tokens[first].kind != JsonTokenKind::BeginObject) return std::nullopt;
  auto id = json_member_tokens(tokens + first, last - first, "id");
  if (id && id->second == id->first + 1 && tokens[first + id->first].kind == JsonTokenKind::String) {
    return tokens[first + id->first];
  }
  return JsonToken{JsonTokenKind::Null, "", 0};
}

}  // namespace

OwnedTokens rest_shape_tokens(const JsonToken* tokens, std::size_t count) {
  if (count == 0 || tokens[0].kind != JsonTokenKind::BeginObject) return OwnedTokens::copy_of(tokens, count);
  std::vector<ShapedMember> members;
  for (std::size_t i = 1; i < count && tokens[i].kind == JsonTokenKind::Key;) {
    ShapedMember m;
    m.key = std::string_view(tokens[i].text, tokens[i].len);
    m.first = i + 1;
    m.last = json_value_end(tokens, count, i + 1);
    if (m.last <= m.first) break;  // a key without a value: malformed, left as it is
    i = m.last;
    members.push_back(m);
  }
  // The member a name stands for now (of repeated names the last, as a document keeps).
  auto find = [&](std::string_view key) -> ShapedMember* {
    for (auto it = members.rbegin(); it != members.rend(); ++it) {
      if (!it->dropped && it->key == key) return &*it;
    }
    return nullptr;
  };
  std::deque<std::string> made;  // texts made here ("…Z"), alive until copied below
  for (ShapedMember& m : members) {
    const JsonToken& v = tokens[m.first];
    if (m.last != m.first + 1 || v.kind != JsonTokenKind::String) continue;
    if (is_string_token(v, "None")) {
      m.scalar = JsonToken{JsonTokenKind::Null, "", 0};
    } else if (auto z = utc_as_z_text(m.key, std::string_view(v.text, v.len))) {
      made.push_back(std::move(*z));
      m.scalar = JsonToken{JsonTokenKind::String, made.back().data(), made.back().size()};
    }
  }
  for (const auto& [v2_name, rest_name] : kRenames) {
    ShapedMember* m = find(v2_name);
    if (m == nullptr) continue;
    if (find(rest_name) == nullptr) {
      m->key = rest_name;
    } else {
      m->dropped = true;
    }
  }
  for (const char* key : kReferences) {
    ShapedMember* m = find(key);
    if (m == nullptr || m->scalar) continue;
    if (auto id = reference_id_token(tokens, m->first, m->last)) m->scalar = id;
  }
  for (const char* key : kReferenceLists) {
    ShapedMember* m = find(key);
    if (m == nullptr || m->scalar || tokens[m->first].kind != JsonTokenKind::BeginArray) continue;
    std::vector<JsonToken> ids;
    for (std::size_t e = m->first + 1; e + 1 < m->last;) {
      const std::size_t end = json_value_end(tokens, count, e);
      std::optional<JsonToken> id = reference_id_token(tokens, e, end);
      const JsonToken t = id ? *id : tokens[e];
      if (t.kind == JsonTokenKind::String) ids.push_back(t);
      e = end;
    }
    m->ids = std::move(ids);
  }
  std::vector<JsonToken> out;
  out.reserve(count);
  out.push_back(tokens[0]);
  for (const ShapedMember& m : members) {
    if (m.dropped) continue;
    out.push_back(JsonToken{JsonTokenKind::Key, m.key.data(), m.key.size()});
    if (m.ids) {
      out.push_back(JsonToken{JsonTokenKind::BeginArray, "", 0});
      out.insert(out.end(), m.ids->begin(), m.ids->end());
      out.push_back(JsonToken{JsonTokenKind::EndArray, "", 0});
    } else if (m.scalar) {
      out.push_back(*m.scalar);
    } else {
      out.insert(out.end(), tokens + m.first, tokens + m.last);
    }
  }
  out.push_back(JsonToken{JsonTokenKind::EndObject, "", 0});
  return OwnedTokens::copy_of(out.data(), out.size());
}

std::optional<WebhookMirrorChange> webhook_mirror_change(WebhookEvent&& ev, CalendarZones* zones) {
  if (!ev.known) return std::nullopt;
  WebhookMirrorChange c;
  c.table = ev.entity_type == "project" ? MirrorTable::Projects
            : ev.entity_type == "page"  ? MirrorTable::Pages
                                        : MirrorTable::Items;
  c.plane_id = ev.entity_id;
  c.project_id = ev.entity_type == "project" ? std::string() : ev.project_id;
  if (ev.is_delete) {
    c.op = MirrorOp::Delete;
    return c;
  }
  if (ev.is_archive && ev.data_is_previous) {
    // The record before archiving: upserting it would un-archive the row.
    c.op = MirrorOp::Archive;
    return c;
  }
  c.op = MirrorOp::Upsert;
  json d = rest_shape(std::move(ev.data));
  if (ev.entity_type == "project") {
    c.row = map_project(d);
  } else if (ev.entity_type == "work_item") {
    c.row = map_work_item(std::move(d), ev.project_id);
  } else if (ev.entity_type == "cycle") {
    c.row = map_cycle(d, ev.project_id, zones);
  } else if (ev.entity_type == "module") {
    c.row = map_module(d, ev.project_id);
  } else {
    c.row = map_page(d, ev.project_id);
  }
  // An unknown project is NULL, not "".
  auto p = c.row.find("project_plane_id");
  if (p != c.row.end() && p->is_string() && p->get_ref<const std::string&>().empty()) *p = nullptr;
  if (auto id = c.row.find("plane_id"); id != c.row.end() && id->is_string()) {
    c.plane_id = id->get<std::string>();
  }
  return c;
}

}  // namespace plane

namespace plane {

std::optional<WebhookMirrorChange> webhook_mirror_change(const JsonToken* tokens, std::size_t count,
                                                         CalendarZones* zones) {
  // The envelope as ingest reads it (a document of the outer levels only); of a work item's
  // upsert, the object straight from the tokens.
  WebhookEvent ev = parse_webhook_envelope(tokens, count, {}, WebhookKey::Skip);
  const bool work_item_upsert =
      ev.known && ev.entity_type == "work_item" && !ev.is_delete && !(ev.is_archive && ev.data_is_previous);
  const auto data = work_item_upsert ? json_member_tokens(tokens, count, "data") : std::nullopt;
  if (!data || tokens[data->first].kind != JsonTokenKind::BeginObject) {
    return webhook_mirror_change(
        parse_webhook_document(json_from_tokens(tokens, count, kMaxJsonDepth), {}, WebhookKey::Skip), zones);
  }
  WebhookMirrorChange c;
  c.op = MirrorOp::Upsert;
  c.table = MirrorTable::Items;
  c.project_id = ev.project_id;
  c.raw_tokens = rest_shape_tokens(tokens + data->first, data->second - data->first);
  c.row = work_item_columns(c.raw_tokens.data(), c.raw_tokens.size(), ev.project_id);
  // As the document route: an unknown project is NULL, not "".
  auto p = c.row.find("project_plane_id");
  if (p != c.row.end() && p->is_string() && p->get_ref<const std::string&>().empty()) *p = nullptr;
  c.plane_id = c.row["plane_id"].get<std::string>();
  return c;
}

}  // namespace plane
