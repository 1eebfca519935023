#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/mapping.hpp"

#include <cstdint>
#include <utility>

#include "core/errors.hpp"
#include "core/html_blocks_cache.hpp"
#include "core/timestamp.hpp"

namespace plane {

using nlohmann::json;

namespace {

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  // Plane's v2 webhooks render nulls as the string "None".
  if (it->is_string() && it->get_ref<const std::string&>() == "None") return nullptr;
  return &*it;
}

std::string required_id(const json& obj, const char* what) {
  const json* id = field(obj, "id");
  if (id == nullptr || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    throw PlaneError(ErrorKind::Parse, std::string(what) + " object has no string \"id\"");
  }
  return id->get<std::string>();
}

}  // namespace

json text_or_null(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return (v != nullptr && v->is_string()) ? *v : json(nullptr);
}

json id_or_null(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (v == nullptr) return nullptr;
  if (v->is_string()) return *v;
  if (v->is_object()) return id_or_null(*v, "id");  // expanded: {"id": ..., "name": ...}
  return nullptr;
}

json ids_array(const json& obj, const char* key) {
  json out = json::array();
  const json* v = field(obj, key);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : *v) {
    if (e.is_string()) {
      out.push_back(e);
    } else if (e.is_object()) {
      json id = id_or_null(e, "id");
      if (!id.is_null()) out.push_back(std::move(id));
    }
  }
  return out;
}

json timestamp_or_null(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (v == nullptr || !v->is_string()) return nullptr;
  const std::string& text = v->get_ref<const std::string&>();
  if (auto micros = parse_timestamp_micros(text)) return format_timestamp_utc(*micros);
  if (is_valid_date(text)) return text + "T00:00:00.000000Z";  // Issue.archived_at is a date
  return nullptr;
}

json date_or_null(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (v == nullptr || !v->is_string()) return nullptr;
  const std::string& text = v->get_ref<const std::string&>();
  if (is_valid_date(text)) return text;
  if (text.size() > 10 && is_valid_date(text.substr(0, 10)) && parse_timestamp_micros(text)) {
    return text.substr(0, 10);  // a datetime where a date was expected: keep Plane's calendar day
  }
  return nullptr;
}

json int_or_null(const json& obj, const char* key) {
  // Typed columns are 32-bit: a value outside that range is not a Plane sequence/enum; raw keeps it.
  const json* v = field(obj, key);
  if (v == nullptr || !v->is_number_integer()) return nullptr;
  if (v->is_number_unsigned()) {
    return v->get<std::uint64_t>() <= 2147483647u ? *v : json(nullptr);
  }
  const std::int64_t n = v->get<std::int64_t>();
  return (n >= -2147483648LL && n <= 2147483647LL) ? *v : json(nullptr);
}

json number_or_null(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return (v != nullptr && v->is_number()) ? *v : json(nullptr);
}

json bool_or_null(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return (v != nullptr && v->is_boolean()) ? *v : json(nullptr);
}

namespace {

// The plain text of an object's description_html (work items, pages), or of its
// description_stripped when only that came; NULL when neither did.
json plain_text_or_null(const json& obj) {
  const json* html = field(obj, "description_html");
  if (html != nullptr && html->is_string()) return remembered_html_to_text(html->get_ref<const std::string&>());
  const json* stripped = field(obj, "description_stripped");
  if (stripped != nullptr && stripped->is_string()) return *stripped;
  return nullptr;
}

// The columns every row of work_plane.items has, whatever its item_type.
json item_row(const json& obj, const char* what, const char* item_type, const std::string& project_id) {
  json row = json::object();
  row["plane_id"] = required_id(obj, what);
  row["item_type"] = item_type;
  json project = id_or_null(obj, "project");
  row["project_plane_id"] = project.is_null() ? json(project_id) : project;
  row["name"] = text_or_null(obj, "name");
  row["archived_at"] = timestamp_or_null(obj, "archived_at");
  row["plane_created_at"] = timestamp_or_null(obj, "created_at");
  row["plane_updated_at"] = timestamp_or_null(obj, "updated_at");
  row["description_text"] = text_or_null(obj, "description");  // cycles and modules: plain text
  row["raw"] = obj;
  return row;
}

}  // namespace

json map_project(const json& p) {
  json row = json::object();
  row["plane_id"] = required_id(p, "project");
  row["name"] = text_or_null(p, "name");
  row["identifier"] = text_or_null(p, "identifier");
  row["description_text"] = text_or_null(p, "description_text");
  row["network"] = int_or_null(p, "network");
  // Per calling user: false for a public project the key's user never joined, whose lists answer 403.
  row["is_member"] = bool_or_null(p, "is_member");
  row["timezone"] = text_or_null(p, "timezone");
  row["archived_at"] = timestamp_or_null(p, "archived_at");
  row["plane_created_at"] = timestamp_or_null(p, "created_at");
  row["plane_updated_at"] = timestamp_or_null(p, "updated_at");
  row["raw"] = p;
  return row;
}

namespace {

// Every column of a work item row except raw.
json work_item_columns(const json& it, const std::string& project_id) {
  json row = json::object();
  row["plane_id"] = required_id(it, "work item");
  row["item_type"] = "issue";
  json project = id_or_null(it, "project");
  row["project_plane_id"] = project.is_null() ? json(project_id) : project;
  row["name"] = text_or_null(it, "name");
  row["sequence_id"] = int_or_null(it, "sequence_id");
  row["state_plane_id"] = id_or_null(it, "state");
  row["priority"] = text_or_null(it, "priority");
  row["parent_plane_id"] = id_or_null(it, "parent");
  row["assignee_ids"] = ids_array(it, "assignees");
  row["label_ids"] = ids_array(it, "labels");
  row["start_date"] = date_or_null(it, "start_date");
  row["target_date"] = date_or_null(it, "target_date");
  row["completed_at"] = timestamp_or_null(it, "completed_at");
  row["archived_at"] = timestamp_or_null(it, "archived_at");
  row["plane_created_at"] = timestamp_or_null(it, "created_at");
  row["plane_updated_at"] = timestamp_or_null(it, "updated_at");
  row["description_text"] = plain_text_or_null(it);
  return row;
}

}  // namespace

json map_work_item(const json& it, const std::string& project_id) {
  json row = work_item_columns(it, project_id);
  row["raw"] = it;
  return row;
}

json map_work_item(json&& it, const std::string& project_id) {
  json row = work_item_columns(it, project_id);
  row["raw"] = std::move(it);  // a backfill page's objects are not needed after mapping: no copy
  return row;
}

}  // namespace plane

namespace plane {

json map_cycle(const json& c, const std::string& project_id, CalendarZones* zones,
               const std::string& project_zone) {
  json row = item_row(c, "cycle", "cycle", project_id);
  row["starts_at"] = timestamp_or_null(c, "start_date");
  row["ends_at"] = timestamp_or_null(c, "end_date");
  row["start_date"] = date_or_null(c, "start_date");
  row["target_date"] = date_or_null(c, "end_date");
  json own_zone = text_or_null(c, "timezone");
  const std::string zone = own_zone.is_string() ? own_zone.get<std::string>() : project_zone;
  if (zones != nullptr && !zone.empty()) {
    for (const auto& [instant, day] : {std::make_pair("starts_at", "start_date"),
                                       std::make_pair("ends_at", "target_date")}) {
      const json& t = row[instant];
      if (!t.is_string()) continue;
      if (auto us = parse_timestamp_micros(t.get_ref<const std::string&>())) {
        if (auto local = zones->local_date(*us, zone)) row[day] = *local;
      }
    }
  }
  row["assignee_ids"] = json::array();
  row["label_ids"] = json::array();
  return row;
}

json map_module(const json& m, const std::string& project_id) {
  json row = item_row(m, "module", "module", project_id);
  row["status"] = text_or_null(m, "status");
  row["start_date"] = date_or_null(m, "start_date");
  row["target_date"] = date_or_null(m, "target_date");
  row["assignee_ids"] = ids_array(m, "members");
  row["label_ids"] = json::array();
  return row;
}

json map_state(const json& st, const std::string& project_id) {
  json row = json::object();
  row["plane_id"] = required_id(st, "state");
  json project = id_or_null(st, "project");
  row["project_plane_id"] = project.is_null() ? json(project_id) : project;
  row["name"] = text_or_null(st, "name");
  row["group"] = text_or_null(st, "group");
  row["color"] = text_or_null(st, "color");
  row["sequence"] = number_or_null(st, "sequence");
  row["is_default"] = bool_or_null(st, "default");
  row["plane_created_at"] = timestamp_or_null(st, "created_at");
  row["plane_updated_at"] = timestamp_or_null(st, "updated_at");
  row["raw"] = st;
  return row;
}

json map_label(const json& l, const std::string& project_id) {
  json row = json::object();
  row["plane_id"] = required_id(l, "label");
  json project = id_or_null(l, "project");
  row["project_plane_id"] = project.is_null() ? json(project_id) : project;
  row["name"] = text_or_null(l, "name");
  row["color"] = text_or_null(l, "color");
  row["parent_plane_id"] = id_or_null(l, "parent");
  row["plane_created_at"] = timestamp_or_null(l, "created_at");
  row["plane_updated_at"] = timestamp_or_null(l, "updated_at");
  row["raw"] = l;
  return row;
}

json map_page(const json& pg, const std::string& project_id) {
  json row = json::object();
  row["plane_id"] = required_id(pg, "page");
  json project = id_or_null(pg, "project");
  row["project_plane_id"] = project.is_null() ? (project_id.empty() ? json(nullptr) : json(project_id))
                                               : project;
  row["name"] = text_or_null(pg, "name");
  row["access"] = int_or_null(pg, "access");
  row["is_locked"] = bool_or_null(pg, "is_locked");
  row["owned_by"] = id_or_null(pg, "owned_by");
  json parent = id_or_null(pg, "parent_id");
  row["parent_plane_id"] = parent.is_null() ? id_or_null(pg, "parent") : parent;
  row["archived_at"] = timestamp_or_null(pg, "archived_at");
  row["plane_created_at"] = timestamp_or_null(pg, "created_at");
  row["plane_updated_at"] = timestamp_or_null(pg, "updated_at");
  row["content_text"] = plain_text_or_null(pg);  // NULL: a list left the content out
  row["raw"] = pg;
  return row;
}

}  // namespace plane
