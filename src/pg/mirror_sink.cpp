#include "pg/mirror_sink.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/timestamp.hpp"
#include "pg/boundary.hpp"
#include "pg/column_upsert.hpp"
#include "pg/spi_plan.hpp"

extern "C" {
#include "utils/array.h"
}

namespace plane::pg {

namespace {

// Saves where a scan is; an empty cursor means none (the scan completed or never paged).
KeptPlan save_cursor{
    "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, cursor, updated_at) "
    "VALUES ($1, $2, nullif($3, ''), now()) "
    "ON CONFLICT (workspace_slug, resource) DO UPDATE SET cursor = excluded.cursor, "
    "updated_at = now()",
    3,
    {TEXTOID, TEXTOID, TEXTOID},
    nullptr};

KeptPlan save_progress{
    "UPDATE work_plane.sync_state SET phase = $2, pages_done = $3, rows_done = $4, "
    "rows_expected = nullif($5, -1), updated_at = now() WHERE workspace_slug = $1",
    5,
    {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID},
    nullptr};

KeptPlan load_state_plan{
    "SELECT cursor, (extract(epoch FROM watermark) * 1000000)::int8, available "
    "FROM work_plane.events_cursor WHERE workspace_slug = $1 AND resource = $2",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

// The watermark is capped at the scan's start: rows changed meanwhile stay above it.
KeptPlan complete_items_scan{
    "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, cursor, watermark, "
    "last_full_sync, updated_at) "
    "VALUES ($1, $2, NULL, (SELECT least(max(i.plane_updated_at), $5) FROM work_plane.items i "
    "WHERE i.workspace_slug = $1 AND i.project_plane_id = $3 AND i.item_type = $4), "
    "CASE WHEN $6 THEN now() END, now()) "
    "ON CONFLICT (workspace_slug, resource) DO UPDATE SET cursor = NULL, "
    "watermark = coalesce(excluded.watermark, c.watermark), "
    "last_full_sync = coalesce(excluded.last_full_sync, c.last_full_sync), updated_at = now()",
    6,
    {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, BOOLOID},
    nullptr};

TimestampTz micros_to_timestamptz(std::int64_t unix_us) {
  // Postgres timestamps count microseconds from 2000-01-01.
  return static_cast<TimestampTz>(unix_us) -
         static_cast<TimestampTz>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

}  // namespace

plane::ResourceState PgMirrorSink::load_state(const std::string& resource) {
  plane::ResourceState state;
  bool has_watermark = false;
  std::int64_t watermark = 0;
  in_transaction([&]() noexcept {
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str())};
    exec_kept(load_state_plan, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      HeapTuple tup = SPI_tuptable->vals[0];
      TupleDesc desc = SPI_tuptable->tupdesc;
      char* text = SPI_getvalue(tup, desc, 1);
      if (text != nullptr) state.cursor.assign(text);
      bool isnull = false;
      Datum w = SPI_getbinval(tup, desc, 2, &isnull);
      if (!isnull) {
        has_watermark = true;
        watermark = DatumGetInt64(w);
      }
      state.available = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
    }
  });
  if (has_watermark) state.watermark_us = watermark;
  return state;
}

void PgMirrorSink::apply_page(plane::MirrorTable table, const nlohmann::json& rows,
                              const std::string& resource, const std::string& next_cursor,
                              const plane::SyncProgress& progress) {
  // All C++ work happens before entering Postgres code.
  ColumnRows columns(table);
  for (const auto& row : rows) columns.add(row);
  in_transaction([&]() noexcept {
    Datum slug = CStringGetTextDatum(slug_.c_str());
    if (!columns.empty()) columns.upsert(slug_.c_str());
    if (!resource.empty()) {
      Datum cursor_args[3] = {slug, CStringGetTextDatum(resource.c_str()),
                              CStringGetTextDatum(next_cursor.c_str())};
      exec_kept(save_cursor, cursor_args, nullptr, false, SPI_OK_INSERT);
    }
    Datum progress_args[5] = {slug, CStringGetTextDatum(progress.phase.c_str()),
                              Int64GetDatum(progress.pages_done), Int64GetDatum(progress.rows_done),
                              Int64GetDatum(progress.rows_expected)};
    exec_kept(save_progress, progress_args, nullptr, false, SPI_OK_UPDATE);
  });
}

void PgMirrorSink::complete_scan(const std::string& resource, plane::MirrorTable table,
                                 const plane::Scope& scope, std::int64_t scan_started_us,
                                 bool backfill) {
  if (table != plane::MirrorTable::Items || !scope.project_id) {
    throw plane::PlaneError(plane::ErrorKind::Internal, "complete_scan supports work item scans only");
  }
  const std::string project = *scope.project_id;
  in_transaction([&]() noexcept {
    Datum values[6] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str()),
                       CStringGetTextDatum(project.c_str()),
                       CStringGetTextDatum(scope.item_type.c_str()),
                       TimestampTzGetDatum(micros_to_timestamptz(scan_started_us)),
                       BoolGetDatum(backfill)};
    exec_kept(complete_items_scan, values, nullptr, false, SPI_OK_INSERT);
  });
}

namespace {

// "<table> t WHERE <live rows of scope not among the ids in $2>", from constant fragments only;
// every value is a parameter: $1 slug, $2 ids (text[]), $3 project, $4 item type.
// `<> ALL ($2)` with the array known at planning (a one-shot plan folds the parameter into a
// constant) is a hashed lookup in Postgres 15, linear in the rows scanned, whatever the
// statistics say. (A join against the listed ids was planned as a nested loop once the table had
// been analyzed with another workspace's rows: 11 s for 4,000 rows. A correlated NOT EXISTS is
// quadratic.)
std::string missing_rows_sql(plane::MirrorTable table, const plane::Scope& scope) {
  std::string sql = std::string(mirror_table_name(table)) +
                    " t WHERE t.workspace_slug = $1 AND t.gone_at IS NULL AND t.plane_id <> ALL ($2)";
  if (table != plane::MirrorTable::Projects && scope.project_id) {
    sql += scope.project_id->empty() ? " AND t.project_plane_id IS NULL"
                                     : " AND t.project_plane_id = $3";
  }
  if (table == plane::MirrorTable::Items) sql += " AND t.item_type = $4";
  return sql;
}

// The ids as a text[] Datum in the current memory context (inside pg_call).
Datum text_array(const std::vector<std::string>& ids) noexcept {
  Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * std::max<size_t>(ids.size(), 1)));
  for (size_t i = 0; i < ids.size(); ++i) elems[i] = CStringGetTextDatum(ids[i].c_str());
  return PointerGetDatum(construct_array(elems, static_cast<int>(ids.size()), TEXTOID, -1, false,
                                         TYPALIGN_INT));
}

}  // namespace

long PgMirrorSink::mark_missing(plane::MirrorTable table, const plane::Scope& scope,
                                const std::vector<std::string>& seen_ids) {
  const std::string update = std::string("UPDATE ") + missing_rows_sql(table, scope);
  // "UPDATE <table> t WHERE ..." needs its SET before the WHERE.
  const std::string::size_type where = update.find(" WHERE ");
  const std::string statement = update.substr(0, where) + " SET gone_at = now()" + update.substr(where);
  const std::string project = scope.project_id.value_or("");
  const bool cascade = table == plane::MirrorTable::Projects;
  long marked = 0;
  in_transaction([&]() noexcept {
    Oid types[4] = {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID};
    Datum values[4] = {CStringGetTextDatum(slug_.c_str()), text_array(seen_ids),
                       CStringGetTextDatum(project.c_str()),
                       CStringGetTextDatum(scope.item_type.c_str())};
    if (SPI_execute_with_args(statement.c_str(), 4, types, values, nullptr, false, 0) != SPI_OK_UPDATE) {
      elog(ERROR, "plane_connector: could not mark gone rows");
    }
    marked = static_cast<long>(SPI_processed);
    if (cascade) {
      // A project gone from Plane takes its rows along: nothing under it is listed any more.
      for (const char* child : {"work_plane.items", "work_plane.states", "work_plane.labels", "work_plane.pages"}) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "UPDATE %s c SET gone_at = now() FROM work_plane.projects p "
                 "WHERE c.workspace_slug = $1 AND c.gone_at IS NULL AND p.workspace_slug = $1 "
                 "AND p.plane_id = c.project_plane_id AND p.gone_at IS NOT NULL",
                 child);
        SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0);
      }
    }
  });
  return marked;
}

std::vector<std::string> PgMirrorSink::find_missing(plane::MirrorTable table,
                                                    const plane::Scope& scope,
                                                    const std::vector<std::string>& seen_ids) {
  const std::string select = "SELECT t.plane_id FROM " + missing_rows_sql(table, scope);
  const std::string project = scope.project_id.value_or("");
  std::vector<std::string> missing;
  in_transaction([&]() noexcept {
    Oid types[4] = {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID};
    Datum values[4] = {CStringGetTextDatum(slug_.c_str()), text_array(seen_ids),
                       CStringGetTextDatum(project.c_str()),
                       CStringGetTextDatum(scope.item_type.c_str())};
    if (SPI_execute_with_args(select.c_str(), 4, types, values, nullptr, true, 0) != SPI_OK_SELECT) {
      elog(ERROR, "plane_connector: could not compare ids");
    }
    for (uint64 i = 0; i < SPI_processed; ++i) {
      char* id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
      if (id != nullptr) missing.emplace_back(id);
    }
  });
  return missing;
}

long PgMirrorSink::mark_gone(plane::MirrorTable table, const std::vector<std::string>& ids) {
  const std::string sql = std::string("UPDATE ") + mirror_table_name(table) +
                          " t SET gone_at = now() WHERE t.workspace_slug = $1 AND t.gone_at IS NULL "
                          "AND t.plane_id = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))";
  const std::string list = nlohmann::json(ids).dump();
  long marked = 0;
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(list.c_str())};
    if (SPI_execute_with_args(sql.c_str(), 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE) {
      elog(ERROR, "plane_connector: could not mark gone rows");
    }
    marked = static_cast<long>(SPI_processed);
  });
  return marked;
}

std::vector<std::string> PgMirrorSink::find_stale(plane::MirrorTable table,
                                                  const nlohmann::json& versions) {
  const std::string sql =
      std::string("SELECT r.id FROM jsonb_to_recordset($2::jsonb) AS r(id text, updated_at timestamptz) "
                  "LEFT JOIN ") +
      mirror_table_name(table) +
      " t ON t.workspace_slug = $1 AND t.plane_id = r.id "
      "WHERE t.plane_id IS NULL OR t.gone_at IS NOT NULL OR (r.updated_at IS NOT NULL AND "
      "(t.plane_updated_at IS NULL OR t.plane_updated_at < r.updated_at))";
  const std::string text = versions.dump();
  std::vector<std::string> stale;
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(text.c_str())};
    if (SPI_execute_with_args(sql.c_str(), 2, types, values, nullptr, true, 0) != SPI_OK_SELECT) {
      elog(ERROR, "plane_connector: could not compare versions");
    }
    for (uint64 i = 0; i < SPI_processed; ++i) {
      char* id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
      if (id != nullptr) stale.emplace_back(id);
    }
  });
  return stale;
}

void PgMirrorSink::set_available(const std::string& resource, bool available) {
  in_transaction([&]() noexcept {
    Oid types[3] = {TEXTOID, TEXTOID, BOOLOID};
    Datum values[3] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str()),
                       BoolGetDatum(available)};
    SPI_execute_with_args(
        "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, available) "
        "VALUES ($1, $2, $3) ON CONFLICT (workspace_slug, resource) DO UPDATE "
        "SET available = excluded.available, updated_at = now()",
        3, types, values, nullptr, false, 0);
  });
}

void clear_cursors(const std::string& slug) {
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    SPI_execute_with_args(
        "UPDATE work_plane.events_cursor SET cursor = NULL, updated_at = now() "
        "WHERE workspace_slug = $1",
        1, types, values, nullptr, false, 0);
  });
}

}  // namespace plane::pg
