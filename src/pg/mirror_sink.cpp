#include "pg/mirror_sink.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/text.hpp"
#include "core/timestamp.hpp"
#include "pg/boundary.hpp"
#include "pg/column_upsert.hpp"
#include "pg/spi_plan.hpp"
#include "pg/sync_state_store.hpp"

extern "C" {
#include "utils/array.h"
}

namespace plane::pg {

namespace {

// Saves where a scan is; an empty cursor means none (the scan completed or never paged).
KeptPlan save_cursor{
    "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, cursor, updated_at) "
    "VALUES ($1, $2, nullif($3, ''), pg_catalog.now()) "
    "ON CONFLICT (workspace_slug, resource) DO UPDATE SET cursor = excluded.cursor, "
    "updated_at = pg_catalog.now()",
    3,
    {TEXTOID, TEXTOID, TEXTOID},
    nullptr};

KeptPlan load_state_plan{
    "SELECT cursor, (pg_catalog.date_part('epoch', watermark) * 1000000)::int8, available, "
    "(pg_catalog.date_part('epoch', last_full_sync) * 1000000)::int8 "
    "FROM work_plane.events_cursor WHERE workspace_slug = $1 AND resource = $2",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

// The watermark is capped at the scan's start: rows changed meanwhile stay above it.
KeptPlan complete_items_scan{
    "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, cursor, watermark, "
    "last_full_sync, updated_at) "
    "VALUES ($1, $2, NULL, (SELECT least(pg_catalog.max(i.plane_updated_at), $5) "
    "FROM work_plane.items i "
    "WHERE i.workspace_slug = $1 AND i.project_plane_id = $3 AND i.item_type = $4), "
    "CASE WHEN $6 THEN pg_catalog.now() END, pg_catalog.now()) "
    "ON CONFLICT (workspace_slug, resource) DO UPDATE SET cursor = NULL, "
    "watermark = coalesce(excluded.watermark, c.watermark), "
    "last_full_sync = coalesce(excluded.last_full_sync, c.last_full_sync), "
    "updated_at = pg_catalog.now()",
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
  bool has_full = false;
  std::int64_t full = 0;
  in_transaction([&]() noexcept {
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str())};
    exec_kept(load_state_plan, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      HeapTuple tup = SPI_tuptable->vals[0];
      TupleDesc desc = SPI_tuptable->tupdesc;
      char* text = SPI_getvalue(tup, desc, 1);
      if (text != nullptr) cpp_step([&] { state.cursor.assign(text); });
      bool isnull = false;
      Datum w = SPI_getbinval(tup, desc, 2, &isnull);
      if (!isnull) {
        has_watermark = true;
        watermark = DatumGetInt64(w);
      }
      state.available = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
      Datum f = SPI_getbinval(tup, desc, 4, &isnull);
      if (!isnull) {
        has_full = true;
        full = DatumGetInt64(f);
      }
    }
  });
  if (has_watermark) state.watermark_us = watermark;
  if (has_full) state.last_full_us = full;
  return state;
}

void PgMirrorSink::apply_page(plane::MirrorTable table, const plane::MirrorRows& rows,
                              const std::string& resource, const std::string& next_cursor,
                              const plane::SyncProgress& progress, plane::ChangeSource source) {
  // All C++ work happens before entering Postgres code.
  ColumnRows columns(table);
  columns.add(rows);
  in_transaction([&]() noexcept {
    Datum slug = CStringGetTextDatum(slug_.c_str());
    if (!columns.empty()) columns.upsert(slug_.c_str(), source);
    if (!resource.empty()) {
      Datum cursor_args[3] = {slug, CStringGetTextDatum(resource.c_str()),
                              CStringGetTextDatum(next_cursor.c_str())};
      exec_kept(save_cursor, cursor_args, nullptr, false, SPI_OK_INSERT);
    }
    save_progress_in_transaction(slug_.c_str(), progress);
  });
}

void PgMirrorSink::complete_refresh(const std::string& resource) {
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str())};
    exec_sql(
        "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, cursor, last_full_sync) "
        "VALUES ($1, $2, NULL, pg_catalog.now()) ON CONFLICT (workspace_slug, resource) DO UPDATE "
        "SET cursor = NULL, last_full_sync = pg_catalog.now(), updated_at = pg_catalog.now()",
        2, types, values, nullptr, false, SPI_OK_INSERT);
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
  std::string sql = std::string(plane::mirror_table_name(table)) +
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
    exec_sql(select.c_str(), 4, types, values, nullptr, true, SPI_OK_SELECT);
    for (uint64 i = 0; i < SPI_processed; ++i) {
      char* id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
      if (id != nullptr) cpp_step([&] { missing.emplace_back(id); });
    }
  });
  return missing;
}

long PgMirrorSink::mark_gone(plane::MirrorTable table, const std::vector<std::string>& ids) {
  const std::string sql = std::string("UPDATE ") + plane::mirror_table_name(table) +
                          " t SET gone_at = pg_catalog.now() WHERE t.workspace_slug = $1 "
                          "AND t.gone_at IS NULL AND t.plane_id = ANY ($2)";
  const bool cascade = table == plane::MirrorTable::Projects;
  long marked = 0;
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTARRAYOID};
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), text_array(ids)};
    exec_sql(sql.c_str(), 2, types, values, nullptr, false, SPI_OK_UPDATE);
    marked = static_cast<long>(SPI_processed);
    if (cascade) {
      // A project gone from Plane takes its rows along: nothing under it is listed any more.
      for (const char* child : {"work_plane.items", "work_plane.states", "work_plane.labels", "work_plane.pages"}) {
        char statement[512];
        snprintf(statement, sizeof statement,
                 "UPDATE %s c SET gone_at = pg_catalog.now() WHERE c.workspace_slug = $1 "
                 "AND c.gone_at IS NULL AND c.project_plane_id = ANY ($2)",
                 child);
        exec_sql(statement, 2, types, values, nullptr, false, SPI_OK_UPDATE);
      }
    }
  });
  return marked;
}

namespace {

// Of [{"id", "updated_at"}], the ids `table` lacks, marks gone or holds older, or that match
// `extra` (a condition on t, the mirror row).
std::string stale_query(plane::MirrorTable table, const char* extra) {
  return std::string("SELECT r.id FROM pg_catalog.jsonb_to_recordset($2::jsonb) AS r(id text, updated_at timestamptz) "
                     "LEFT JOIN ") +
         plane::mirror_table_name(table) +
         " t ON t.workspace_slug = $1 AND t.plane_id = r.id "
         "WHERE t.plane_id IS NULL OR t.gone_at IS NOT NULL OR (r.updated_at IS NOT NULL AND "
         "(t.plane_updated_at IS NULL OR t.plane_updated_at < r.updated_at))" +
         extra;
}

}  // namespace

std::vector<std::string> PgMirrorSink::find_stale(plane::MirrorTable table,
                                                  const nlohmann::json& versions) {
  return select_ids(stale_query(table, ""), versions);
}

std::vector<std::string> PgMirrorSink::find_without_content(const nlohmann::json& versions) {
  return select_ids(stale_query(plane::MirrorTable::Pages, " OR t.content_text IS NULL"), versions);
}

std::vector<std::string> PgMirrorSink::select_ids(const std::string& sql, const nlohmann::json& versions) {
  const std::string text = versions.dump();
  std::vector<std::string> stale;
  in_transaction([&]() noexcept {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(text.c_str())};
    exec_sql(sql.c_str(), 2, types, values, nullptr, true, SPI_OK_SELECT);
    for (uint64 i = 0; i < SPI_processed; ++i) {
      char* id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
      if (id != nullptr) cpp_step([&] { stale.emplace_back(id); });
    }
  });
  return stale;
}

void PgMirrorSink::set_available(const std::string& resource, bool available, const std::string& reason) {
  const std::string why = plane::truncate_utf8(reason, 1000);
  in_transaction([&]() noexcept {
    Oid types[4] = {TEXTOID, TEXTOID, BOOLOID, TEXTOID};
    Datum values[4] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str()),
                       BoolGetDatum(available), CStringGetTextDatum(why.c_str())};
    exec_sql(
        "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, available, "
        "unavailable_reason, checked_at) VALUES ($1, $2, $3, nullif($4, ''), pg_catalog.now()) "
        "ON CONFLICT (workspace_slug, resource) DO UPDATE SET available = excluded.available, "
        "unavailable_reason = excluded.unavailable_reason, checked_at = excluded.checked_at, "
        "updated_at = pg_catalog.now()",
        4, types, values, nullptr, false, SPI_OK_INSERT);
  });
}

std::map<std::string, plane::ProjectAccess> PgMirrorSink::load_project_access() {
  std::map<std::string, plane::ProjectAccess> out;
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug_.c_str())};
    exec_sql("SELECT plane_id, access FROM work_plane.projects WHERE workspace_slug = $1", 1, types,
             values, nullptr, true, SPI_OK_SELECT);
    for (uint64 i = 0; i < SPI_processed; ++i) {
      char* id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
      char* access = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
      if (id == nullptr || access == nullptr) continue;
      const plane::ProjectAccess a = strcmp(access, "not_member") == 0  ? plane::ProjectAccess::NotMember
                                     : strcmp(access, "forbidden") == 0 ? plane::ProjectAccess::Forbidden
                                                                        : plane::ProjectAccess::Readable;
      cpp_step([&] { out.emplace(id, a); });
    }
  });
  return out;
}

void PgMirrorSink::set_project_access(const std::string& project_id, plane::ProjectAccess access,
                                      const std::string& reason) {
  const std::string why = plane::truncate_utf8(reason, 1000);
  in_transaction([&]() noexcept {
    Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
    Datum values[4] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(project_id.c_str()),
                       CStringGetTextDatum(plane::project_access_name(access)),
                       CStringGetTextDatum(why.c_str())};
    exec_sql(
        "UPDATE work_plane.projects SET access = $3, access_reason = nullif($4, ''), "
        "access_checked_at = pg_catalog.now() WHERE workspace_slug = $1 AND plane_id = $2",
        4, types, values, nullptr, false, SPI_OK_UPDATE);
  });
}

plane::ServerProfile PgMirrorSink::load_profile() {
  plane::ServerProfile profile;
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug_.c_str())};
    exec_sql("SELECT coalesce(work_items_route, ''), coalesce(page_size, 0) "
             "FROM work_plane.api_profile WHERE workspace_slug = $1",
             1, types, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed == 0) return;
    bool isnull = false;
    char* route = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    if (route != nullptr) cpp_step([&] { profile.work_items_segment.assign(route); });
    profile.page_size = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
  });
  return profile;
}

void PgMirrorSink::save_profile(const plane::ServerProfile& profile) {
  in_transaction([&]() noexcept {
    Oid types[3] = {TEXTOID, TEXTOID, INT4OID};
    Datum values[3] = {CStringGetTextDatum(slug_.c_str()),
                       CStringGetTextDatum(profile.work_items_segment.c_str()),
                       Int32GetDatum(profile.page_size)};
    exec_sql(
        "INSERT INTO work_plane.api_profile AS p (workspace_slug, work_items_route, page_size, updated_at) "
        "VALUES ($1, nullif($2, ''), nullif($3, 0), pg_catalog.now()) "
        "ON CONFLICT (workspace_slug) DO UPDATE SET work_items_route = excluded.work_items_route, "
        "page_size = excluded.page_size, updated_at = pg_catalog.now()",
        3, types, values, nullptr, false, SPI_OK_INSERT);
  });
}

// Only rows whose membership changes are written (history records each write as a change), and
// only the project's rows are read (items_project_idx): a whole-workspace scan per cycle cost as
// much as the first sync's upserts.
void PgMirrorSink::set_cycle_members(const std::string& project_id, const std::string& cycle_id,
                                     const std::vector<std::string>& item_ids) {
  in_transaction([&]() noexcept {
    Oid types[4] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID};
    Datum values[4] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(cycle_id.c_str()),
                       text_array(item_ids), CStringGetTextDatum(project_id.c_str())};
    exec_sql(
        "UPDATE work_plane.items i SET cycle_plane_id = CASE WHEN i.plane_id = ANY ($3) THEN $2 END, "
        "change_source = 'sync' "
        "WHERE i.workspace_slug = $1 AND i.project_plane_id = $4 AND i.item_type = 'issue' "
        "AND ((i.plane_id = ANY ($3) AND i.cycle_plane_id IS DISTINCT FROM $2) "
        "  OR (i.cycle_plane_id = $2 AND NOT i.plane_id = ANY ($3)))",
        4, types, values, nullptr, false, SPI_OK_UPDATE);
  });
}

void PgMirrorSink::set_module_members(const std::string& project_id, const std::string& module_id,
                                      const std::vector<std::string>& item_ids) {
  in_transaction([&]() noexcept {
    Oid types[4] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID};
    Datum values[4] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(module_id.c_str()),
                       text_array(item_ids), CStringGetTextDatum(project_id.c_str())};
    exec_sql(
        "UPDATE work_plane.items i SET module_ids = CASE WHEN i.plane_id = ANY ($3) "
        "  THEN ARRAY(SELECT DISTINCT m FROM pg_catalog.unnest(i.module_ids || $2) AS m ORDER BY m) "
        "  ELSE pg_catalog.array_remove(i.module_ids, $2) END, change_source = 'sync' "
        "WHERE i.workspace_slug = $1 AND i.project_plane_id = $4 AND i.item_type = 'issue' "
        "AND ((i.plane_id = ANY ($3) AND NOT $2 = ANY (i.module_ids)) "
        "  OR ($2 = ANY (i.module_ids) AND NOT i.plane_id = ANY ($3)))",
        4, types, values, nullptr, false, SPI_OK_UPDATE);
  });
}

void clear_cursors(const std::string& slug) {
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    exec_sql(
        "UPDATE work_plane.events_cursor SET cursor = NULL, updated_at = pg_catalog.now() "
        "WHERE workspace_slug = $1",
        1, types, values, nullptr, false, SPI_OK_UPDATE);
  });
}

}  // namespace plane::pg
