// Mirror rows upserted as column arrays: one text[] per column (cast by the statement) and the raw
// objects as a jsonb[], unnested side by side. For rows mapped from queued webhook events, whose
// raw is the queued payload's data object, already in jsonb: no JSON text is written or parsed on
// the way (a JSON document of rows cost more to serialise and parse than the upsert itself).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sync_engine.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace plane::pg {

class ColumnRows {
 public:
  // Projects, Items or Pages (the tables webhook events change).
  explicit ColumnRows(plane::MirrorTable table);

  // Adds a mapped row (core/mapping.hpp keys; its raw member, if any, is ignored) with its raw
  // object, which must outlive the upsert (nullptr: NULL). C++ only: call outside pg_call.
  void add(const nlohmann::json& row, Jsonb* raw);

  bool empty() const { return raws_.empty(); }
  plane::MirrorTable table() const { return table_; }

  // Upserts the rows into the table for a workspace, set-based, never making a row older.
  // C-level: SPI connected, inside pg_call.
  void upsert(const char* slug) const noexcept;

 private:
  plane::MirrorTable table_;
  std::vector<std::vector<std::optional<std::string>>> columns_;  // [column][row]
  std::vector<Jsonb*> raws_;
};

}  // namespace plane::pg
