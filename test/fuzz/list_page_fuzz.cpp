// libFuzzer target for Plane list pages and the row mappers: whatever bytes a (hostile or broken)
// server sends as a list page, parse_list_page either returns a page or throws PlaneError(Parse),
// and every object of a parsed page maps to a row or throws PlaneError(Parse); nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/errors.hpp"
#include "core/mapping.hpp"
#include "core/pagination.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  plane::ListPage page;
  try {
    page = plane::parse_list_page(body);
  } catch (const plane::PlaneError& e) {
    if (e.kind() != plane::ErrorKind::Parse) __builtin_trap();
    return 0;
  }
  if (page.has_next && page.next_cursor.empty()) __builtin_trap();  // the parser's own invariant
  for (const auto& obj : page.results) {
    for (int kind = 0; kind < 7; ++kind) {
      try {
        nlohmann::json row;
        switch (kind) {
          case 0: row = plane::map_project(obj); break;
          case 1: row = plane::map_work_item(obj, "p"); break;
          case 2: row = plane::map_cycle(obj, "p"); break;
          case 3: row = plane::map_module(obj, "p"); break;
          case 4: row = plane::map_state(obj, "p"); break;
          case 5: row = plane::map_label(obj, "p"); break;
          default: row = plane::map_page(obj, ""); break;
        }
        if (!row["plane_id"].is_string()) __builtin_trap();
        (void)row.dump();  // rows are serialised for SQL: must not throw (invalid UTF-8 is refused earlier)
      } catch (const plane::PlaneError& e) {
        if (e.kind() != plane::ErrorKind::Parse) __builtin_trap();
      }
    }
  }
  (void)plane::rebase_cursor(std::string(body.substr(0, 32)), 100);
  return 0;
}
