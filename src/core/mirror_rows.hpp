// Mapped rows on their way to a mirror table (MirrorSink::apply_page): each row's typed columns
// (mapping.hpp keys) and its raw object. The raw is either inside the row ("raw", nlohmann) or,
// for work items mapped straight from a parsed list page, that page's element; the page's
// document is then kept alive here until the rows are written.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "core/parsed_json.hpp"

namespace plane {

class MirrorRows {
 public:
  MirrorRows() = default;
  // Rows of a JSON array, each with its raw inside ("raw").
  explicit MirrorRows(nlohmann::json rows);

  void add(nlohmann::json row);  // its raw, if any, inside ("raw")
  void add(nlohmann::json columns, JsonElement raw, std::shared_ptr<const ParsedJson> document);

  std::size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  // The row's columns (and its "raw" when it came inside).
  const nlohmann::json& columns(std::size_t i) const { return rows_[i]; }
  // The raw element of a row added with one; nullopt otherwise.
  const std::optional<JsonElement>& parsed_raw(std::size_t i) const { return raws_[i]; }

  // Every row as one JSON array, each with its raw inside (for fakes and tests: it copies).
  nlohmann::json to_json() const;

 private:
  std::vector<nlohmann::json> rows_;
  std::vector<std::optional<JsonElement>> raws_;
  std::vector<std::shared_ptr<const ParsedJson>> documents_;  // each once
};

}  // namespace plane
