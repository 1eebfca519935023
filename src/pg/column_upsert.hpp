// Mirror rows upserted as column arrays: one text[] per column (cast by the statement) and the raw
// objects as a jsonb[], unnested side by side. No JSON text is written or parsed on the way (a
// JSON document of rows cost more to serialise and parse than the upsert itself): queued work-item
// events push their raw from the payload's tokens as rest_shape_tokens reshaped them, the sync's
// work-item pages from simdjson's DOM (core/parsed_json.hpp), everything else from nlohmann's.
// The one way rows reach a mirror table.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"
#include "core/mirror_rows.hpp"
#include "core/mirror_schema.hpp"
#include "core/parsed_json.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace plane::pg {

class ColumnRows {
 public:
  explicit ColumnRows(plane::MirrorTable table);

  // Adds a mapped row (core/mapping.hpp keys; its raw member, if any, is ignored) with its raw
  // object, which must outlive the upsert (nullptr: NULL). C++ only: call outside pg_call.
  void add(const nlohmann::json& row, Jsonb* raw);

  // Adds a mapped row whose raw member is its raw object: pushed into jsonb by the upsert
  // (json_to_jsonb.hpp), never serialised to text. The row must outlive the upsert.
  void add(const nlohmann::json& row);

  // Adds a mapped row whose raw is an element of a parsed page, pushed into jsonb by the upsert;
  // its document must outlive the upsert.
  void add(const nlohmann::json& row, plane::JsonElement raw);

  // Adds a mapped row whose raw is a token stream (a queued webhook's object), pushed into jsonb
  // by the upsert; the tokens must outlive the upsert.
  void add(const nlohmann::json& row, const plane::OwnedTokens& raw);

  // Adds each row of a batch the sync engine mapped (which keeps its raws alive).
  void add(const plane::MirrorRows& rows);

  bool empty() const { return raws_.empty(); }
  plane::MirrorTable table() const { return table_; }

  // Upserts the rows into the table for a workspace, set-based, never making a row older, and
  // records who wrote them (change_source). C-level: SPI connected, inside pg_call.
  void upsert(const char* slug, plane::ChangeSource source) const noexcept;

 private:
  plane::MirrorTable table_;
  std::vector<std::vector<std::optional<std::string>>> columns_;  // [column][row]
  // Per row, where its raw comes from: one of the four, or none (NULL).
  struct Raw {
    Jsonb* jsonb = nullptr;
    const nlohmann::json* document = nullptr;
    std::optional<plane::JsonElement> parsed;
    const plane::OwnedTokens* tokens = nullptr;
  };
  std::vector<Raw> raws_;
};

}  // namespace plane::pg
