#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/mapping.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "core/errors.hpp"
#include "core/html_blocks_cache.hpp"
#include "core/json_tokens.hpp"
#include "core/timestamp.hpp"

namespace plane {

using nlohmann::json;

namespace {

// What the mappers read of a JSON value, over nlohmann's documents (webhook payloads, writeback
// answers, small lists) and over simdjson's DOM (the sync's work-item pages) alike, so that each
// rule below is written once for both.
struct NlohmannRead {
  using Value = const json*;
  static std::optional<Value> member(Value obj, const char* key) {
    if (!obj->is_object()) return std::nullopt;
    auto it = obj->find(key);
    if (it == obj->end()) return std::nullopt;
    return &*it;
  }
  static bool is_null(Value v) { return v->is_null(); }
  static bool is_object(Value v) { return v->is_object(); }
  static std::optional<std::string_view> string(Value v) {
    if (!v->is_string()) return std::nullopt;
    return std::string_view(v->get_ref<const std::string&>());
  }
  // An integer, as the number it is; nullopt for anything else.
  static std::optional<json> integer(Value v) {
    if (!v->is_number_integer()) return std::nullopt;
    return *v;
  }
  template <typename Each>
  static bool elements(Value v, Each each) {
    if (!v->is_array()) return false;
    for (const json& e : *v) each(&e);
    return true;
  }
};

struct ParsedRead {
  using Value = JsonElement;
  static std::optional<Value> member(Value obj, const char* key) { return last_member(obj, key); }
  static bool is_null(Value v) { return v.is_null(); }
  static bool is_object(Value v) { return v.is_object(); }
  static std::optional<std::string_view> string(Value v) {
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
    return s;
  }
  static std::optional<json> integer(Value v) {  // nlohmann's kinds, as to_json makes them
    if (v.type() == simdjson::dom::element_type::INT64) {
      const std::int64_t n = v.get_int64().value_unsafe();
      return n >= 0 ? json(static_cast<std::uint64_t>(n)) : json(n);
    }
    if (v.type() == simdjson::dom::element_type::UINT64) return json(v.get_uint64().value_unsafe());
    return std::nullopt;
  }
  template <typename Each>
  static bool elements(Value v, Each each) {
    simdjson::dom::array array;
    if (v.get_array().get(array) != simdjson::SUCCESS) return false;
    for (JsonElement e : array) each(e);
    return true;
  }
};

// A value given as tokens (a queued payload, flattened from jsonb): [first, last) of a stream.
struct TokenSpan {
  const JsonToken* tokens;
  std::size_t first, last;
  const JsonToken& head() const { return tokens[first]; }
};

struct TokenRead {
  using Value = TokenSpan;
  static std::optional<Value> member(Value obj, const char* key) {
    if (obj.head().kind != JsonTokenKind::BeginObject) return std::nullopt;
    auto range = json_member_tokens(obj.tokens + obj.first, obj.last - obj.first, key);
    if (!range) return std::nullopt;
    return TokenSpan{obj.tokens, obj.first + range->first, obj.first + range->second};
  }
  static bool is_null(Value v) { return v.head().kind == JsonTokenKind::Null; }
  static bool is_object(Value v) { return v.head().kind == JsonTokenKind::BeginObject; }
  static std::optional<std::string_view> string(Value v) {
    if (v.head().kind != JsonTokenKind::String) return std::nullopt;
    return std::string_view(v.head().text, v.head().len);
  }
  static std::optional<json> integer(Value v) {  // as json_from_tokens reads the number
    if (v.head().kind != JsonTokenKind::Number) return std::nullopt;
    json n = json_number(v.head());
    if (!n.is_number_integer()) return std::nullopt;
    return n;
  }
  template <typename Each>
  static bool elements(Value v, Each each) {
    if (v.head().kind != JsonTokenKind::BeginArray) return false;
    for (std::size_t e = v.first + 1; e + 1 < v.last;) {
      const std::size_t end = json_value_end(v.tokens, v.last, e);
      each(TokenSpan{v.tokens, e, end});
      e = end;
    }
    return true;
  }
};

template <class R>
using Value = typename R::Value;

// A member that is present and not null. Plane's v2 webhooks render nulls as the string "None".
template <class R>
std::optional<Value<R>> field(Value<R> obj, const char* key) {
  std::optional<Value<R>> v = R::member(obj, key);
  if (!v || R::is_null(*v)) return std::nullopt;
  if (auto s = R::string(*v); s && *s == "None") return std::nullopt;
  return v;
}

template <class R>
std::string required_id(Value<R> obj, const char* what) {
  std::optional<Value<R>> id = field<R>(obj, "id");
  std::optional<std::string_view> s = id ? R::string(*id) : std::nullopt;
  if (!s || s->empty()) {
    throw PlaneError(ErrorKind::Parse, std::string(what) + " object has no string \"id\"");
  }
  return std::string(*s);
}

template <class R>
json text_of(Value<R> obj, const char* key) {
  std::optional<Value<R>> v = field<R>(obj, key);
  std::optional<std::string_view> s = v ? R::string(*v) : std::nullopt;
  return s ? json(std::string(*s)) : json(nullptr);
}

template <class R>
json id_of(Value<R> obj, const char* key) {
  std::optional<Value<R>> v = field<R>(obj, key);
  if (!v) return nullptr;
  if (auto s = R::string(*v)) return std::string(*s);
  if (R::is_object(*v)) return id_of<R>(*v, "id");  // expanded: {"id": ..., "name": ...}
  return nullptr;
}

template <class R>
json ids_of(Value<R> obj, const char* key) {
  json out = json::array();
  std::optional<Value<R>> v = field<R>(obj, key);
  if (!v) return out;
  R::elements(*v, [&](Value<R> e) {
    if (auto s = R::string(e)) {
      out.push_back(std::string(*s));
    } else if (R::is_object(e)) {
      json id = id_of<R>(e, "id");
      if (!id.is_null()) out.push_back(std::move(id));
    }
  });
  return out;
}

template <class R>
json timestamp_of(Value<R> obj, const char* key) {
  std::optional<Value<R>> v = field<R>(obj, key);
  std::optional<std::string_view> text = v ? R::string(*v) : std::nullopt;
  if (!text) return nullptr;
  if (auto micros = parse_timestamp_micros(*text)) return format_timestamp_utc(*micros);
  if (is_valid_date(*text)) return std::string(*text) + "T00:00:00.000000Z";  // Issue.archived_at is a date
  return nullptr;
}

template <class R>
json date_of(Value<R> obj, const char* key) {
  std::optional<Value<R>> v = field<R>(obj, key);
  std::optional<std::string_view> text = v ? R::string(*v) : std::nullopt;
  if (!text) return nullptr;
  if (is_valid_date(*text)) return std::string(*text);
  if (text->size() > 10 && is_valid_date(text->substr(0, 10)) && parse_timestamp_micros(*text)) {
    return std::string(text->substr(0, 10));  // a datetime where a date was expected: keep Plane's calendar day
  }
  return nullptr;
}

template <class R>
json int_of(Value<R> obj, const char* key) {
  // Typed columns are 32-bit: a value outside that range is not a Plane sequence/enum; raw keeps it.
  std::optional<Value<R>> v = field<R>(obj, key);
  std::optional<json> n = v ? R::integer(*v) : std::nullopt;
  if (!n) return nullptr;
  if (n->is_number_unsigned()) return n->get<std::uint64_t>() <= 2147483647u ? *n : json(nullptr);
  const std::int64_t i = n->get<std::int64_t>();
  return (i >= -2147483648LL && i <= 2147483647LL) ? *n : json(nullptr);
}

// The plain text of an object's description_html (work items, pages), or of its
// description_stripped when only that came; NULL when neither did.
template <class R>
json plain_text_of(Value<R> obj) {
  std::optional<Value<R>> html = field<R>(obj, "description_html");
  if (auto text = html ? R::string(*html) : std::nullopt) return remembered_html_to_text(*text);
  return text_of<R>(obj, "description_stripped");
}

// Every column of a work item row except raw.
template <class R>
json work_item_columns_of(Value<R> it, const std::string& project_id) {
  json row = json::object();
  row["plane_id"] = required_id<R>(it, "work item");
  row["item_type"] = "issue";
  json project = id_of<R>(it, "project");
  row["project_plane_id"] = project.is_null() ? json(project_id) : project;
  row["name"] = text_of<R>(it, "name");
  row["sequence_id"] = int_of<R>(it, "sequence_id");
  row["state_plane_id"] = id_of<R>(it, "state");
  row["priority"] = text_of<R>(it, "priority");
  row["parent_plane_id"] = id_of<R>(it, "parent");
  row["assignee_ids"] = ids_of<R>(it, "assignees");
  row["label_ids"] = ids_of<R>(it, "labels");
  row["start_date"] = date_of<R>(it, "start_date");
  row["target_date"] = date_of<R>(it, "target_date");
  row["completed_at"] = timestamp_of<R>(it, "completed_at");
  row["archived_at"] = timestamp_of<R>(it, "archived_at");
  row["plane_created_at"] = timestamp_of<R>(it, "created_at");
  row["plane_updated_at"] = timestamp_of<R>(it, "updated_at");
  row["description_text"] = plain_text_of<R>(it);
  return row;
}

}  // namespace

json text_or_null(const json& obj, const char* key) { return text_of<NlohmannRead>(&obj, key); }
json id_or_null(const json& obj, const char* key) { return id_of<NlohmannRead>(&obj, key); }
json ids_array(const json& obj, const char* key) { return ids_of<NlohmannRead>(&obj, key); }
json timestamp_or_null(const json& obj, const char* key) { return timestamp_of<NlohmannRead>(&obj, key); }
json date_or_null(const json& obj, const char* key) { return date_of<NlohmannRead>(&obj, key); }
json int_or_null(const json& obj, const char* key) { return int_of<NlohmannRead>(&obj, key); }

json number_or_null(const json& obj, const char* key) {
  std::optional<const json*> v = field<NlohmannRead>(&obj, key);
  return (v && (*v)->is_number()) ? **v : json(nullptr);
}

json bool_or_null(const json& obj, const char* key) {
  std::optional<const json*> v = field<NlohmannRead>(&obj, key);
  return (v && (*v)->is_boolean()) ? **v : json(nullptr);
}

namespace {

json plain_text_or_null(const json& obj) { return plain_text_of<NlohmannRead>(&obj); }

std::string required_id(const json& obj, const char* what) { return required_id<NlohmannRead>(&obj, what); }

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

json map_work_item(const json& it, const std::string& project_id) {
  json row = work_item_columns_of<NlohmannRead>(&it, project_id);
  row["raw"] = it;
  return row;
}

json map_work_item(json&& it, const std::string& project_id) {
  json row = work_item_columns_of<NlohmannRead>(&it, project_id);
  row["raw"] = std::move(it);  // a backfill page's objects are not needed after mapping: no copy
  return row;
}

json work_item_columns(JsonElement item, const std::string& project_id) {
  return work_item_columns_of<ParsedRead>(item, project_id);
}

json work_item_columns(const JsonToken* tokens, std::size_t count, const std::string& project_id) {
  if (count == 0) throw PlaneError(ErrorKind::Parse, "work item object has no string \"id\"");
  return work_item_columns_of<TokenRead>(TokenSpan{tokens, 0, count}, project_id);
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
