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

struct Column {
  const char* name;
  const char* type;  // SQL type the text is cast to ("text": none)
};

struct TableSpec {
  const char* table;
  std::vector<Column> columns;  // plane_id first; raw, synced_at and gone_at are implicit
};

const TableSpec kProjects{"work_plane.projects",
                          {{"plane_id", "text"},
                           {"name", "text"},
                           {"identifier", "text"},
                           {"description_text", "text"},
                           {"network", "int"},
                           {"archived_at", "timestamptz"},
                           {"plane_created_at", "timestamptz"},
                           {"plane_updated_at", "timestamptz"}}};

const TableSpec kItems{"work_plane.items",
                       {{"plane_id", "text"},
                        {"item_type", "text"},
                        {"project_plane_id", "text"},
                        {"name", "text"},
                        {"sequence_id", "int"},
                        {"state_plane_id", "text"},
                        {"priority", "text"},
                        {"parent_plane_id", "text"},
                        {"assignee_ids", "text[]"},
                        {"label_ids", "text[]"},
                        {"status", "text"},
                        {"start_date", "date"},
                        {"target_date", "date"},
                        {"starts_at", "timestamptz"},
                        {"ends_at", "timestamptz"},
                        {"completed_at", "timestamptz"},
                        {"archived_at", "timestamptz"},
                        {"plane_created_at", "timestamptz"},
                        {"plane_updated_at", "timestamptz"}}};

const TableSpec kPages{"work_plane.pages",
                       {{"plane_id", "text"},
                        {"project_plane_id", "text"},
                        {"name", "text"},
                        {"access", "int"},
                        {"is_locked", "boolean"},
                        {"owned_by", "text"},
                        {"parent_plane_id", "text"},
                        {"archived_at", "timestamptz"},
                        {"plane_created_at", "timestamptz"},
                        {"plane_updated_at", "timestamptz"}}};

const TableSpec kStates{"work_plane.states",
                        {{"plane_id", "text"},
                         {"project_plane_id", "text"},
                         {"name", "text"},
                         {"group", "text"},
                         {"color", "text"},
                         {"sequence", "double precision"},
                         {"is_default", "boolean"},
                         {"plane_created_at", "timestamptz"},
                         {"plane_updated_at", "timestamptz"}}};

const TableSpec kLabels{"work_plane.labels",
                        {{"plane_id", "text"},
                         {"project_plane_id", "text"},
                         {"name", "text"},
                         {"color", "text"},
                         {"parent_plane_id", "text"},
                         {"plane_created_at", "timestamptz"},
                         {"plane_updated_at", "timestamptz"}}};

const TableSpec& spec_of(plane::MirrorTable table) {
  switch (table) {
    case plane::MirrorTable::Projects: return kProjects;
    case plane::MirrorTable::Items: return kItems;
    case plane::MirrorTable::States: return kStates;
    case plane::MirrorTable::Labels: return kLabels;
    case plane::MirrorTable::Pages: return kPages;
  }
  throw plane::PlaneError(plane::ErrorKind::Internal, "no such mirror table");
}

// A column name as an SQL identifier ("group" is a reserved word).
std::string quoted(const char* name) { return std::string("\"") + name + "\""; }

std::string cast(const Column& c) {
  std::string e = "r." + quoted(c.name);
  if (std::string(c.type) == "text") return e;
  e += std::string("::") + c.type;
  // An item without assignees or labels has '{}', never NULL (as the sync writes it).
  if (std::string(c.type) == "text[]") e = "coalesce(" + e + ", '{}')";
  return e;
}

// The statement for a table, generated from its column list so the two cannot disagree:
// $1 the workspace, $2.. one text[] per column, then the raws as jsonb[].
std::string upsert_sql(const TableSpec& spec) {
  std::string cols, exprs, args, aliases, updates;
  int param = 2;
  for (const Column& c : spec.columns) {
    cols += quoted(c.name) + ", ";
    exprs += cast(c) + ", ";
    args += "$" + std::to_string(param++) + "::text[], ";
    aliases += quoted(c.name) + ", ";
    if (std::string(c.name) != "plane_id") updates += quoted(c.name) + " = excluded." + quoted(c.name) + ", ";
  }
  args += "$" + std::to_string(param) + "::jsonb[]";
  // DISTINCT ON: one batch can hold two events for the same object; ON CONFLICT may not touch a
  // row twice in one statement. The newest wins, and never replaces a newer mirror row.
  return std::string("INSERT INTO ") + spec.table + " AS t (workspace_slug, " + cols +
         "raw, synced_at, gone_at) SELECT DISTINCT ON (r.plane_id) $1, " + exprs +
         "r.raw, now(), NULL FROM unnest(" + args + ") AS r(" + aliases +
         "raw) ORDER BY r.plane_id, r.plane_updated_at::timestamptz DESC NULLS LAST "
         "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET " + updates +
         "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL "
         "WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL "
         "OR excluded.plane_updated_at >= t.plane_updated_at";
}

KeptPlan make_plan(const std::string& sql, const TableSpec& spec) {
  KeptPlan plan{sql.c_str(), static_cast<int>(spec.columns.size()) + 2, {}, nullptr};
  plan.types[0] = TEXTOID;
  for (std::size_t i = 0; i < spec.columns.size(); ++i) plan.types[i + 1] = TEXTARRAYOID;
  plan.types[spec.columns.size() + 1] = JSONBARRAYOID;
  return plan;
}

// Built when the library loads (C++ only), prepared on first use; indexed by MirrorTable.
struct TablePlan {
  std::string sql;
  KeptPlan plan;
  explicit TablePlan(const TableSpec& spec) : sql(upsert_sql(spec)), plan(make_plan(sql, spec)) {}
  TablePlan(const TablePlan&) = delete;  // plan.sql points into sql: never copied or moved
  TablePlan& operator=(const TablePlan&) = delete;
};
// In MirrorTable's order.
TablePlan table_plans[] = {TablePlan(kProjects), TablePlan(kItems), TablePlan(kStates),
                           TablePlan(kLabels), TablePlan(kPages)};

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

const char* mirror_table_name(plane::MirrorTable table) { return spec_of(table).table; }

ColumnRows::ColumnRows(plane::MirrorTable table)
    : table_(table), columns_(spec_of(table).columns.size()) {}

void ColumnRows::add(const nlohmann::json& row, Jsonb* raw) {
  const TableSpec& spec = spec_of(table_);
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    auto it = row.find(spec.columns[i].name);
    columns_[i].push_back(it == row.end() ? std::nullopt : column_text(*it));
  }
  raws_.push_back(raw);
  raw_documents_.push_back(nullptr);
}

void ColumnRows::add(const nlohmann::json& row) {
  auto raw = row.find("raw");
  add(row, nullptr);
  raw_documents_.back() = raw != row.end() && raw->is_object() ? &*raw : nullptr;
}

void ColumnRows::upsert(const char* slug) const noexcept {
  const int n = static_cast<int>(raws_.size());
  const std::size_t ncols = columns_.size();
  Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (ncols + 2)));
  char* nulls = static_cast<char*>(palloc(ncols + 3));
  memset(nulls, ' ', ncols + 2);
  nulls[ncols + 2] = '\0';
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
    Jsonb* raw = raw_documents_[r] != nullptr ? jsonb_from_json(*raw_documents_[r]) : raws_[r];
    elem_nulls[r] = raw == nullptr;
    elems[r] = raw != nullptr ? JsonbPGetDatum(raw) : Datum(0);
  }
  values[ncols + 1] = PointerGetDatum(
      construct_md_array(elems, elem_nulls, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
  exec_kept(plan_of(table_), values, nulls, false, SPI_OK_INSERT);
}

}  // namespace plane::pg
