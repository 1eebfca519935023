#include "pg/mirror_sink.hpp"

#include "pg/boundary.hpp"
#include "pg/spi_plan.hpp"

namespace plane::pg {

namespace {

// Upserts a page given as a JSON array of mapped rows (keys = columns, see core/mapping.cpp).
// DISTINCT ON: offset pagination can return the same row twice within a page window, and
// ON CONFLICT may not touch a row twice. The WHERE clause never makes a row older.
KeptPlan upsert_projects{
    "INSERT INTO work_plane.projects AS t (workspace_slug, plane_id, name, identifier, "
    "description_text, network, archived_at, plane_created_at, plane_updated_at, raw, synced_at, "
    "gone_at) "
    "SELECT DISTINCT ON (r.plane_id) $1, r.plane_id, r.name, r.identifier, r.description_text, "
    "r.network, r.archived_at, r.plane_created_at, r.plane_updated_at, r.raw, now(), NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS r(plane_id text, name text, identifier text, "
    "description_text text, network int, archived_at timestamptz, plane_created_at timestamptz, "
    "plane_updated_at timestamptz, raw jsonb) "
    "ORDER BY r.plane_id, r.plane_updated_at DESC NULLS LAST "
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET name = excluded.name, "
    "identifier = excluded.identifier, description_text = excluded.description_text, "
    "network = excluded.network, archived_at = excluded.archived_at, "
    "plane_created_at = excluded.plane_created_at, plane_updated_at = excluded.plane_updated_at, "
    "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL "
    "WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL "
    "OR excluded.plane_updated_at >= t.plane_updated_at",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

KeptPlan upsert_items{
    "INSERT INTO work_plane.items AS t (workspace_slug, plane_id, item_type, project_plane_id, "
    "name, sequence_id, state_plane_id, priority, parent_plane_id, assignee_ids, label_ids, "
    "start_date, target_date, completed_at, archived_at, plane_created_at, plane_updated_at, raw, "
    "synced_at, gone_at) "
    "SELECT DISTINCT ON (r.plane_id) $1, r.plane_id, r.item_type, r.project_plane_id, r.name, "
    "r.sequence_id, r.state_plane_id, r.priority, r.parent_plane_id, "
    "coalesce(r.assignee_ids, '{}'), coalesce(r.label_ids, '{}'), r.start_date, r.target_date, "
    "r.completed_at, r.archived_at, r.plane_created_at, r.plane_updated_at, r.raw, now(), NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS r(plane_id text, item_type text, project_plane_id text, "
    "name text, sequence_id int, state_plane_id text, priority text, parent_plane_id text, "
    "assignee_ids text[], label_ids text[], start_date date, target_date date, "
    "completed_at timestamptz, archived_at timestamptz, plane_created_at timestamptz, "
    "plane_updated_at timestamptz, raw jsonb) "
    "ORDER BY r.plane_id, r.plane_updated_at DESC NULLS LAST "
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET item_type = excluded.item_type, "
    "project_plane_id = excluded.project_plane_id, name = excluded.name, "
    "sequence_id = excluded.sequence_id, state_plane_id = excluded.state_plane_id, "
    "priority = excluded.priority, parent_plane_id = excluded.parent_plane_id, "
    "assignee_ids = excluded.assignee_ids, label_ids = excluded.label_ids, "
    "start_date = excluded.start_date, target_date = excluded.target_date, "
    "completed_at = excluded.completed_at, archived_at = excluded.archived_at, "
    "plane_created_at = excluded.plane_created_at, plane_updated_at = excluded.plane_updated_at, "
    "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL "
    "WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL "
    "OR excluded.plane_updated_at >= t.plane_updated_at",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

// Saves where the scan is; an empty cursor means the scan of that resource completed.
KeptPlan save_cursor{
    "INSERT INTO work_plane.events_cursor AS c (workspace_slug, resource, cursor, last_full_sync, "
    "updated_at) VALUES ($1, $2, nullif($3, ''), CASE WHEN $3 = '' THEN now() END, now()) "
    "ON CONFLICT (workspace_slug, resource) DO UPDATE SET cursor = excluded.cursor, "
    "last_full_sync = coalesce(excluded.last_full_sync, c.last_full_sync), updated_at = now()",
    3,
    {TEXTOID, TEXTOID, TEXTOID},
    nullptr};

KeptPlan save_progress{
    "UPDATE work_plane.sync_state SET phase = $2, pages_done = $3, rows_done = $4, "
    "rows_expected = nullif($5, -1), updated_at = now() WHERE workspace_slug = $1",
    5,
    {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID},
    nullptr};

KeptPlan load_cursor_plan{
    "SELECT cursor FROM work_plane.events_cursor WHERE workspace_slug = $1 AND resource = $2",
    2,
    {TEXTOID, TEXTOID},
    nullptr};

}  // namespace

std::string PgMirrorSink::load_cursor(const std::string& resource) {
  std::string cursor;
  in_transaction([&]() noexcept {
    Datum values[2] = {CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(resource.c_str())};
    exec_kept(load_cursor_plan, values, nullptr, true, SPI_OK_SELECT);
    if (SPI_processed > 0) {
      char* text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
      if (text != nullptr) cursor.assign(text);
    }
  });
  return cursor;
}

void PgMirrorSink::apply_page(plane::MirrorTable table, const nlohmann::json& rows,
                              const std::string& resource, const std::string& next_cursor,
                              const plane::SyncProgress& progress) {
  // All C++ work (serialisation) happens before entering Postgres code.
  const std::string rows_text = rows.dump();
  KeptPlan& upsert = table == plane::MirrorTable::Projects ? upsert_projects : upsert_items;
  in_transaction([&]() noexcept {
    Datum slug = CStringGetTextDatum(slug_.c_str());
    if (!rows.empty()) {
      Datum args[2] = {slug, CStringGetTextDatum(rows_text.c_str())};
      exec_kept(upsert, args, nullptr, false, SPI_OK_INSERT);
    }
    Datum cursor_args[3] = {slug, CStringGetTextDatum(resource.c_str()),
                            CStringGetTextDatum(next_cursor.c_str())};
    exec_kept(save_cursor, cursor_args, nullptr, false, SPI_OK_INSERT);
    Datum progress_args[5] = {slug, CStringGetTextDatum(progress.phase.c_str()),
                              Int64GetDatum(progress.pages_done), Int64GetDatum(progress.rows_done),
                              Int64GetDatum(progress.rows_expected)};
    exec_kept(save_progress, progress_args, nullptr, false, SPI_OK_UPDATE);
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
