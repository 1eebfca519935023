#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace plane {

// One page of a Plane list: Django REST framework's envelope as Plane's BasePaginator fills it.
struct ListPage {
  nlohmann::json results = nlohmann::json::array();
  std::string next_cursor;   // always a string in Plane's envelope, even on the last page
  bool has_next = false;     // next_page_results: the only reliable stop condition
  std::optional<long> total_results;
  bool bare_array = false;   // some lists (members, attachments, cycle_view=current) are bare arrays
};

// Parses a list response. Throws PlaneError(Parse) when the body is not an envelope or an array.
ListPage parse_list_page(std::string_view body);

// The cursor Plane expects for page `index` with `per_page` rows: "per_page:index:0".
std::string make_cursor(int per_page, long index);

}  // namespace plane

namespace plane {
// A saved cursor "old_per_page:index:0" re-expressed for `per_page` without skipping rows
// (Plane computes the offset from the request's per_page). Empty or unparsable → "" (start over).
std::string rebase_cursor(const std::string& cursor, int per_page);
}  // namespace plane
