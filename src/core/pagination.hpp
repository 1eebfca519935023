#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/parsed_json.hpp"

namespace plane {

// How a list page's rows are handed over: as nlohmann documents (every list), or as simdjson's DOM
// (the sync's work-item pages, mapped and written without a copy: parsed_json.hpp).
enum class ListForm { Json, Parsed };

// One page of a Plane list: Django REST framework's envelope as Plane's BasePaginator fills it.
struct ListPage {
  nlohmann::json results = nlohmann::json::array();  // ListForm::Json, and whatever simdjson refused
  std::shared_ptr<const ParsedJson> parsed;           // ListForm::Parsed: the page as parsed
  std::vector<JsonElement> parsed_results;            // and its rows (results stays empty)
  std::string next_cursor;   // always a string in Plane's envelope, even on the last page
  bool has_next = false;     // next_page_results: the only reliable stop condition
  std::optional<long> total_results;
  bool bare_array = false;   // some lists (members, attachments, cycle_view=current) are bare arrays

  std::size_t size() const { return parsed ? parsed_results.size() : results.size(); }
};

// Parses a list response. Throws PlaneError(Parse) when the body is not an envelope or an array.
// ListForm::Parsed falls back to the Json form for a text simdjson refuses (same errors either way).
ListPage parse_list_page(std::string_view body, ListForm form = ListForm::Json);

// The cursor Plane expects for page `index` with `per_page` rows: "per_page:index:0".
std::string make_cursor(int per_page, long index);

}  // namespace plane

namespace plane {
// A saved cursor "old_per_page:index:0" re-expressed for `per_page` without skipping rows
// (Plane computes the offset from the request's per_page). Empty or unparsable → "" (start over).
std::string rebase_cursor(const std::string& cursor, int per_page);
}  // namespace plane
