#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/pagination.hpp"

#include <cstdio>

#include "core/errors.hpp"
#include "core/json_parse.hpp"

namespace plane {

using nlohmann::json;

ListPage parse_list_page(std::string_view body) {
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
