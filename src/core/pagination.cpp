#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/pagination.hpp"

#include <cstdio>

#include "core/errors.hpp"
#include "core/json_parse.hpp"

namespace plane {

using nlohmann::json;

namespace {

// The envelope read from simdjson's DOM, with the rules of the nlohmann reading below.
ListPage parsed_list_page(std::shared_ptr<const ParsedJson> parsed) {
  ListPage page;
  const JsonElement root = parsed->root();
  simdjson::dom::array rows;
  if (root.get_array().get(rows) == simdjson::SUCCESS) {
    page.bare_array = true;
  } else {
    std::optional<JsonElement> results = last_member(root, "results");
    if (!results || results->get_array().get(rows) != simdjson::SUCCESS) {
      throw PlaneError(ErrorKind::Parse, "list response has no \"results\" array");
    }
    if (auto v = last_member(root, "next_page_results"); v && v->is_bool()) page.has_next = v->get_bool().value_unsafe();
    if (auto v = last_member(root, "next_cursor"); v && v->is_string()) {
      page.next_cursor = std::string(v->get_string().value_unsafe());
    }
    for (const char* key : {"total_results", "total_count"}) {
      auto v = last_member(root, key);
      if (v && v->is_int64()) {
        page.total_results = static_cast<long>(v->get_int64().value_unsafe());
        break;
      }
      if (v && v->is_uint64()) {  // beyond int64: as nlohmann's get<long> would wrap it
        page.total_results = static_cast<long>(v->get_uint64().value_unsafe());
        break;
      }
    }
  }
  page.parsed_results.reserve(rows.size());
  for (JsonElement row : rows) page.parsed_results.push_back(row);
  if (page.bare_array) page.total_results = static_cast<long>(page.parsed_results.size());
  page.parsed = std::move(parsed);
  if (page.has_next && page.next_cursor.empty()) {
    throw PlaneError(ErrorKind::Parse, "list response has next_page_results but no next_cursor");
  }
  return page;
}

}  // namespace

ListPage parse_list_page(std::string_view body, ListForm form) {
  if (form == ListForm::Parsed && json_nesting_depth(body, kMaxJsonDepth) <= kMaxJsonDepth) {
    if (auto parsed = ParsedJson::parse(body)) return parsed_list_page(std::move(parsed));
  }
  json doc = parse_json_checked(body, "list response");
  ListPage page;
  if (doc.is_array()) {
    page.results = std::move(doc);
    page.bare_array = true;
    page.total_results = static_cast<long>(page.results.size());
    return page;
  }
  if (!doc.is_object() || !doc.contains("results") || !doc["results"].is_array()) {
    throw PlaneError(ErrorKind::Parse, "list response has no \"results\" array");
  }
  page.results = std::move(doc["results"]);
  if (auto it = doc.find("next_page_results"); it != doc.end() && it->is_boolean()) {
    page.has_next = it->get<bool>();
  }
  if (auto it = doc.find("next_cursor"); it != doc.end() && it->is_string()) {
    page.next_cursor = it->get<std::string>();
  }
  for (const char* key : {"total_results", "total_count"}) {
    if (auto it = doc.find(key); it != doc.end() && it->is_number_integer()) {
      page.total_results = it->get<long>();
      break;
    }
  }
  // A page that claims more but gives no cursor to follow would loop forever or stop silently.
  if (page.has_next && page.next_cursor.empty()) {
    throw PlaneError(ErrorKind::Parse, "list response has next_page_results but no next_cursor");
  }
  return page;
}

std::string make_cursor(int per_page, long index) {
  return std::to_string(per_page) + ":" + std::to_string(index) + ":0";
}

}  // namespace plane

namespace plane {
std::string rebase_cursor(const std::string& cursor, int per_page) {
  long old_per_page = 0, index = 0, is_prev = 0;
  char tail = 0;
  if (std::sscanf(cursor.c_str(), "%ld:%ld:%ld%c", &old_per_page, &index, &is_prev, &tail) != 3 ||
      old_per_page <= 0 || index < 0 || is_prev != 0 || per_page <= 0) {
    return "";
  }
  return make_cursor(per_page, (old_per_page * index) / per_page);
}
}  // namespace plane
