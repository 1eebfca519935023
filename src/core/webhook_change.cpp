#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/webhook_change.hpp"

#include <utility>

#include "core/errors.hpp"
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

bool is_none(const json& v) { return v.is_string() && v.get_ref<const std::string&>() == "None"; }

json reference_id(json v) {
  if (v.is_object()) {
    auto id = v.find("id");
    return id != v.end() && id->is_string() ? *id : json(nullptr);
  }
  return v;
}

bool is_datetime_key(const std::string& key) {
  auto ends_with = [&](std::string_view suffix) {
    return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("_at") || ends_with("_date");
}

// A datetime "…+00:00" as the REST API renders UTC ("…Z"); any other value unchanged.
void utc_as_z(const std::string& key, json& v) {
  if (!v.is_string() || !is_datetime_key(key)) return;
  std::string& s = v.get_ref<std::string&>();
  constexpr std::string_view kSuffix = "+00:00";
  if (s.size() > kSuffix.size() + 10 && s.compare(s.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0 &&
      parse_timestamp_micros(s)) {
    s.replace(s.size() - kSuffix.size(), kSuffix.size(), "Z");
  }
}

}  // namespace

json rest_shape(json object) {
  if (!object.is_object()) return object;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (is_none(*it)) *it = nullptr;
    utc_as_z(it.key(), *it);
  }
  for (const auto& [v2_name, rest_name] : kRenames) {
    auto it = object.find(v2_name);
    if (it == object.end()) continue;
    if (!object.contains(rest_name)) object[rest_name] = std::move(*it);
    object.erase(v2_name);
  }
  for (const char* key : kReferences) {
    auto it = object.find(key);
    if (it != object.end()) *it = reference_id(std::move(*it));
  }
  for (const char* key : kReferenceLists) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_array()) continue;
    json ids = json::array();
    for (auto& e : *it) {
      json id = reference_id(std::move(e));
      if (id.is_string()) ids.push_back(std::move(id));
    }
    *it = std::move(ids);
  }
  return object;
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
    c.row = map_project(std::move(d));
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
