// A JSON text kept as simdjson parsed it. The work-item pages of a sync are mapped
// (mapping.hpp) and pushed into jsonb (pg/json_to_jsonb.hpp) straight from this DOM: converting a
// page to nlohmann::json, one allocation per member and as many frees, cost more than parsing it,
// mapping it and building its jsonb together.
#pragma once

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string_view>

namespace plane {

using JsonElement = simdjson::dom::element;

class ParsedJson {
 public:
  // The parsed text; nullptr when simdjson refuses it (not JSON, a number beyond 64 bits, ...:
  // parse_json then decides with nlohmann's parser). Callers bound the nesting first
  // (json_nesting_depth). The document keeps no reference to `text`.
  static std::shared_ptr<const ParsedJson> parse(std::string_view text);

  JsonElement root() const { return root_; }

  ParsedJson() = default;
  ParsedJson(const ParsedJson&) = delete;  // root_ points into document_
  ParsedJson& operator=(const ParsedJson&) = delete;

 private:
  simdjson::dom::document document_;
  JsonElement root_;
};

// An element as parse_json builds the same value: nlohmann's number kinds (non-negative integers
// unsigned), and of repeated keys the last.
nlohmann::json to_json(JsonElement e);

// The last member named `key` of an object element (the one nlohmann and jsonb keep); nullopt
// when absent or when `e` is not an object.
std::optional<JsonElement> last_member(JsonElement e, std::string_view key);

}  // namespace plane
