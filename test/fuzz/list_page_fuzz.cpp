// libFuzzer target for Plane list pages and the row mappers: whatever bytes a (hostile or broken)
// server sends as a list page, parse_list_page either returns a page or throws PlaneError(Parse),
// and every object of a parsed page maps to a row or throws PlaneError(Parse); nothing else.
// Also differential: parse_json (simdjson, converted) gives exactly nlohmann's own parse, or
// nlohmann's discarded value where nlohmann refuses the text; and the Parsed form of a page (the
// sync's work items, mapped from simdjson's DOM) agrees with the Json form.
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/mapping.hpp"
#include "core/pagination.hpp"
#include "core/parsed_json.hpp"

namespace {

// Same value, and the same kind of every value (a float stays a float, "1.0" is not 1).
bool same(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_float() != b.is_number_float() || a.type() != b.type()) {
    // Integers: nlohmann keeps 0 parsed from "-0" as signed, parse_json as unsigned; equal values.
    if (!(a.is_number_integer() && b.is_number_integer())) return false;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !same(ia.value(), ib.value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_number_float()) {  // bit for bit (NaN cannot occur: JSON has none)
    const double x = a.get<double>(), y = b.get<double>();
    return x == y && std::signbit(x) == std::signbit(y);
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (plane::json_nesting_depth(body) <= plane::kMaxJsonDepth) {
    const nlohmann::json reference = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    const nlohmann::json fast = plane::parse_json(body);
    if (reference.is_discarded() != fast.is_discarded()) __builtin_trap();
    if (!reference.is_discarded() && !same(reference, fast)) __builtin_trap();
  }
  plane::ListPage page, parsed;
  bool refused = false, parsed_refused = false;
  try {
    page = plane::parse_list_page(body);
  } catch (const plane::PlaneError& e) {
    if (e.kind() != plane::ErrorKind::Parse) __builtin_trap();
    refused = true;
  }
  // The sync's work-item pages are read in the Parsed form: the same page, the same rows and the
  // same work-item columns (or the same refusal) as the Json form.
  try {
    parsed = plane::parse_list_page(body, plane::ListForm::Parsed);
  } catch (const plane::PlaneError& e) {
    if (e.kind() != plane::ErrorKind::Parse) __builtin_trap();
    parsed_refused = true;
  }
  if (refused != parsed_refused) __builtin_trap();
  if (refused) return 0;
  if (parsed.size() != page.size() || parsed.has_next != page.has_next ||
      parsed.next_cursor != page.next_cursor || parsed.total_results != page.total_results ||
      parsed.bare_array != page.bare_array) {
    __builtin_trap();
  }
  for (std::size_t i = 0; i < parsed.parsed_results.size(); ++i) {
    if (!same(plane::to_json(parsed.parsed_results[i]), page.results[i])) __builtin_trap();
    nlohmann::json expected, columns;
    bool expected_refused = false, columns_refused = false;
    try {
      expected = plane::map_work_item(page.results[i], "p");
      expected.erase("raw");
    } catch (const plane::PlaneError&) {
      expected_refused = true;
    }
    try {
      columns = plane::work_item_columns(parsed.parsed_results[i], "p");
    } catch (const plane::PlaneError&) {
      columns_refused = true;
    }
    if (expected_refused != columns_refused || (!expected_refused && !same(expected, columns))) __builtin_trap();
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
