#include "pg/column_upsert.hpp"

#include <string>

#include "core/errors.hpp"
#include "pg/json_to_jsonb.hpp"
#include "pg/spi_plan.hpp"

extern "C" {
#include "utils/array.h"
}

namespace plane::pg {

namespace {

using plane::MirrorColumn;
using plane::MirrorTableSpec;

// A column name as an SQL identifier ("group" is a reserved word).
std::string quoted(const char* name) { return std::string("\"") + name + "\""; }

std::string cast(const MirrorColumn& c) {
  std::string e = "r." + quoted(c.name);
  if (std::string(c.sql_type) == "text") return e;
  e += std::string("::") + c.sql_type;
  // An item without assignees or labels has '{}', never NULL (as the sync writes it).
  if (std::string(c.sql_type) == "text[]") e = "coalesce(" + e + ", '{}')";
  return e;
}

// The statement for a table, generated from its column list so the two cannot disagree:
// $1 the workspace, $2.. one text[] per column, then the raws as jsonb[], then the change source.
std::string upsert_sql(const MirrorTableSpec& spec) {
  std::string cols, exprs, args, aliases, updates;
  int param = 2;
  for (const MirrorColumn& c : spec.columns) {
    cols += quoted(c.name) + ", ";
    exprs += cast(c) + ", ";
    args += "$" + std::to_string(param++) + "::text[], ";
    aliases += quoted(c.name) + ", ";
    if (std::string(c.name) != "plane_id" && !c.insert_only) {
      updates += quoted(c.name) + " = excluded." + quoted(c.name) + ", ";
    }
  }
  const int raws_param = param;
  args += "$" + std::to_string(raws_param) + "::jsonb[]";
  const std::string source = "$" + std::to_string(raws_param + 1) + "::text";
  // unnest(a, b, ...) unqualified: the multi-array form is FROM-clause syntax, not a function
  // (the workers' search_path is pinned to pg_catalog anyway).
  // DISTINCT ON: one batch can hold two events for the same object; ON CONFLICT may not touch a
  // row twice in one statement. The newest wins, and never replaces a newer mirror row — unless
  // the mirror's version lies in the future (a clock off, or a delivery from before the queue
  // refused such versions): it must not pin the row against every true version after it. An equal
  // version is applied: Plane changes some fields in bulk without moving updated_at.
  return std::string("INSERT INTO ") + spec.qualified_name + " AS t (workspace_slug, " + cols +
         "raw, synced_at, gone_at, change_source) SELECT DISTINCT ON (r.plane_id) $1, " + exprs +
         "r.raw, pg_catalog.now(), NULL, " + source + " FROM unnest(" + args +
         ") AS r(" + aliases +
         "raw) ORDER BY r.plane_id, r.plane_updated_at::timestamptz DESC NULLS LAST "
         "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET " + updates +
         "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL, "
         "change_source = excluded.change_source "
         "WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL "
         "OR excluded.plane_updated_at >= t.plane_updated_at "
         "OR t.plane_updated_at > pg_catalog.now() + interval '1 day'";
}

KeptPlan make_plan(const std::string& sql, const MirrorTableSpec& spec) {
  KeptPlan plan{sql.c_str(), static_cast<int>(spec.columns.size()) + 3, {}, nullptr};
  plan.types[0] = TEXTOID;
  for (std::size_t i = 0; i < spec.columns.size(); ++i) plan.types[i + 1] = TEXTARRAYOID;
  plan.types[spec.columns.size() + 1] = JSONBARRAYOID;
  plan.types[spec.columns.size() + 2] = TEXTOID;
  return plan;
}

// Built when the library loads (C++ only), prepared on first use; indexed by MirrorTable.
struct TablePlan {
  std::string sql;
  KeptPlan plan;
  explicit TablePlan(const MirrorTableSpec& spec) : sql(upsert_sql(spec)), plan(make_plan(sql, spec)) {}
  TablePlan(const TablePlan&) = delete;  // plan.sql points into sql: never copied or moved
  TablePlan& operator=(const TablePlan&) = delete;
};
// In MirrorTable's order.
TablePlan table_plans[] = {TablePlan(plane::mirror_table_spec(plane::MirrorTable::Projects)),
                           TablePlan(plane::mirror_table_spec(plane::MirrorTable::Items)),
                           TablePlan(plane::mirror_table_spec(plane::MirrorTable::States)),
                           TablePlan(plane::mirror_table_spec(plane::MirrorTable::Labels)),
                           TablePlan(plane::mirror_table_spec(plane::MirrorTable::Pages))};

KeptPlan& plan_of(plane::MirrorTable table) {
  return table_plans[static_cast<int>(table)].plan;
}

// A Postgres array literal of a JSON array: {"a","b",NULL}.
std::string array_literal(const nlohmann::json& a) {
  std::string out = "{";
  for (const auto& e : a) {
    if (out.size() > 1) out += ',';
    if (e.is_null()) {
      out += "NULL";
      continue;
    }
    const std::string s = e.is_string() ? e.get<std::string>() : e.dump();
    out += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::optional<std::string> column_text(const nlohmann::json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) return array_literal(v);
  return v.dump();  // numbers, booleans ("true"/"false" read as boolean)
}

}  // namespace

ColumnRows::ColumnRows(plane::MirrorTable table)
    : table_(table), columns_(plane::mirror_table_spec(table).columns.size()) {}

void ColumnRows::add(const nlohmann::json& row, Jsonb* raw) {
  const MirrorTableSpec& spec = plane::mirror_table_spec(table_);
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    auto it = row.find(spec.columns[i].name);
    columns_[i].push_back(it == row.end() ? std::nullopt : column_text(*it));
  }
  raws_.push_back(Raw{raw, nullptr, std::nullopt, nullptr});
}

void ColumnRows::add(const nlohmann::json& row) {
  auto raw = row.find("raw");
  add(row, nullptr);
  raws_.back().document = raw != row.end() && raw->is_object() ? &*raw : nullptr;
}

void ColumnRows::add(const nlohmann::json& row, plane::JsonElement raw) {
  add(row, nullptr);
  if (raw.is_object()) raws_.back().parsed = raw;
}

void ColumnRows::add(const nlohmann::json& row, const plane::OwnedTokens& raw) {
  add(row, nullptr);
  if (!raw.empty() && raw.data()[0].kind == plane::JsonTokenKind::BeginObject) raws_.back().tokens = &raw;
}

void ColumnRows::add(const plane::MirrorRows& rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows.parsed_raw(i)) {
      add(rows.columns(i), *rows.parsed_raw(i));
    } else {
      add(rows.columns(i));
    }
  }
}

void ColumnRows::upsert(const char* slug, plane::ChangeSource source) const noexcept {
  const int n = static_cast<int>(raws_.size());
  const std::size_t ncols = columns_.size();
  Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (ncols + 3)));
  char* nulls = static_cast<char*>(palloc(ncols + 4));
  memset(nulls, ' ', ncols + 3);
  nulls[ncols + 3] = '\0';
  values[0] = CStringGetTextDatum(slug);
  Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
  bool* elem_nulls = static_cast<bool*>(palloc(sizeof(bool) * (n + 1)));
  int dims[1] = {n};
  int lbs[1] = {1};
  for (std::size_t c = 0; c < ncols; ++c) {
    for (int r = 0; r < n; ++r) {
      const std::optional<std::string>& v = columns_[c][r];
      elem_nulls[r] = !v.has_value();
      elems[r] = v ? PointerGetDatum(cstring_to_text_with_len(v->data(), static_cast<int>(v->size())))
                   : Datum(0);
    }
    values[c + 1] = PointerGetDatum(
        construct_md_array(elems, elem_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
  }
  for (int r = 0; r < n; ++r) {
    const Raw& source = raws_[r];
    Jsonb* raw = source.document != nullptr ? jsonb_from_json(*source.document)
                 : source.parsed          ? jsonb_from_parsed(*source.parsed)
                 : source.tokens != nullptr ? jsonb_from_tokens(source.tokens->data(), source.tokens->size())
                                          : source.jsonb;
    elem_nulls[r] = raw == nullptr;
    elems[r] = raw != nullptr ? JsonbPGetDatum(raw) : Datum(0);
  }
  values[ncols + 1] = PointerGetDatum(
      construct_md_array(elems, elem_nulls, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
  values[ncols + 2] = CStringGetTextDatum(plane::change_source_name(source));
  exec_kept(plan_of(table_), values, nulls, false, SPI_OK_INSERT);
}

}  // namespace plane::pg
