#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/mirror_rows.hpp"

#include <utility>

namespace plane {

MirrorRows::MirrorRows(nlohmann::json rows) {
  if (!rows.is_array()) return;
  rows_.reserve(rows.size());
  for (auto& row : rows) add(std::move(row));
}

void MirrorRows::add(nlohmann::json row) {
  rows_.push_back(std::move(row));
  raws_.emplace_back(std::nullopt);
}

void MirrorRows::add(nlohmann::json columns, JsonElement raw, std::shared_ptr<const ParsedJson> document) {
  rows_.push_back(std::move(columns));
  raws_.emplace_back(raw);
  if (documents_.empty() || documents_.back() != document) documents_.push_back(std::move(document));
}

nlohmann::json MirrorRows::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    nlohmann::json row = rows_[i];
    if (raws_[i]) row["raw"] = plane::to_json(*raws_[i]);
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace plane
