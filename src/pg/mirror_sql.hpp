// SQL of the mirror tables: one set-based upsert per table, fed a JSON array of rows mapped by the
// core (keys = columns). Kept apart from the code that runs it so the statements read as SQL.
#pragma once

namespace plane::pg::mirror_sql {

// Common tail: never make a row older, and revive a row that had been marked gone.
#define PLANE_UPSERT_GUARD                                                     \
  " WHERE t.plane_updated_at IS NULL OR excluded.plane_updated_at IS NULL"    \
  " OR excluded.plane_updated_at >= t.plane_updated_at"

// DISTINCT ON: offset pagination can hand out the same row twice in one page window, and
// ON CONFLICT may not touch a row twice in one statement.
inline constexpr const char* kUpsertProjects =
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
    "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL" PLANE_UPSERT_GUARD;

inline constexpr const char* kUpsertItems =
    "INSERT INTO work_plane.items AS t (workspace_slug, plane_id, item_type, project_plane_id, "
    "name, sequence_id, state_plane_id, priority, parent_plane_id, assignee_ids, label_ids, "
    "status, start_date, target_date, starts_at, ends_at, completed_at, archived_at, "
    "plane_created_at, plane_updated_at, raw, synced_at, gone_at) "
    "SELECT DISTINCT ON (r.plane_id) $1, r.plane_id, r.item_type, r.project_plane_id, r.name, "
    "r.sequence_id, r.state_plane_id, r.priority, r.parent_plane_id, "
    "coalesce(r.assignee_ids, '{}'), coalesce(r.label_ids, '{}'), r.status, r.start_date, "
    "r.target_date, r.starts_at, r.ends_at, r.completed_at, r.archived_at, r.plane_created_at, "
    "r.plane_updated_at, r.raw, now(), NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS r(plane_id text, item_type text, project_plane_id text, "
    "name text, sequence_id int, state_plane_id text, priority text, parent_plane_id text, "
    "assignee_ids text[], label_ids text[], status text, start_date date, target_date date, "
    "starts_at timestamptz, ends_at timestamptz, completed_at timestamptz, "
    "archived_at timestamptz, plane_created_at timestamptz, plane_updated_at timestamptz, "
    "raw jsonb) "
    "ORDER BY r.plane_id, r.plane_updated_at DESC NULLS LAST "
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET item_type = excluded.item_type, "
    "project_plane_id = excluded.project_plane_id, name = excluded.name, "
    "sequence_id = excluded.sequence_id, state_plane_id = excluded.state_plane_id, "
    "priority = excluded.priority, parent_plane_id = excluded.parent_plane_id, "
    "assignee_ids = excluded.assignee_ids, label_ids = excluded.label_ids, "
    "status = excluded.status, start_date = excluded.start_date, "
    "target_date = excluded.target_date, starts_at = excluded.starts_at, "
    "ends_at = excluded.ends_at, completed_at = excluded.completed_at, "
    "archived_at = excluded.archived_at, plane_created_at = excluded.plane_created_at, "
    "plane_updated_at = excluded.plane_updated_at, raw = excluded.raw, "
    "synced_at = excluded.synced_at, gone_at = NULL" PLANE_UPSERT_GUARD;

inline constexpr const char* kUpsertStates =
    "INSERT INTO work_plane.states AS t (workspace_slug, plane_id, project_plane_id, name, "
    "\"group\", color, sequence, is_default, plane_created_at, plane_updated_at, raw, synced_at, "
    "gone_at) "
    "SELECT DISTINCT ON (r.plane_id) $1, r.plane_id, r.project_plane_id, r.name, r.\"group\", "
    "r.color, r.sequence, r.is_default, r.plane_created_at, r.plane_updated_at, r.raw, now(), NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS r(plane_id text, project_plane_id text, name text, "
    "\"group\" text, color text, sequence double precision, is_default boolean, "
    "plane_created_at timestamptz, plane_updated_at timestamptz, raw jsonb) "
    "ORDER BY r.plane_id, r.plane_updated_at DESC NULLS LAST "
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET "
    "project_plane_id = excluded.project_plane_id, name = excluded.name, "
    "\"group\" = excluded.\"group\", color = excluded.color, sequence = excluded.sequence, "
    "is_default = excluded.is_default, plane_created_at = excluded.plane_created_at, "
    "plane_updated_at = excluded.plane_updated_at, raw = excluded.raw, "
    "synced_at = excluded.synced_at, gone_at = NULL" PLANE_UPSERT_GUARD;

inline constexpr const char* kUpsertLabels =
    "INSERT INTO work_plane.labels AS t (workspace_slug, plane_id, project_plane_id, name, color, "
    "parent_plane_id, plane_created_at, plane_updated_at, raw, synced_at, gone_at) "
    "SELECT DISTINCT ON (r.plane_id) $1, r.plane_id, r.project_plane_id, r.name, r.color, "
    "r.parent_plane_id, r.plane_created_at, r.plane_updated_at, r.raw, now(), NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS r(plane_id text, project_plane_id text, name text, "
    "color text, parent_plane_id text, plane_created_at timestamptz, "
    "plane_updated_at timestamptz, raw jsonb) "
    "ORDER BY r.plane_id, r.plane_updated_at DESC NULLS LAST "
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET "
    "project_plane_id = excluded.project_plane_id, name = excluded.name, color = excluded.color, "
    "parent_plane_id = excluded.parent_plane_id, plane_created_at = excluded.plane_created_at, "
    "plane_updated_at = excluded.plane_updated_at, raw = excluded.raw, "
    "synced_at = excluded.synced_at, gone_at = NULL" PLANE_UPSERT_GUARD;

inline constexpr const char* kUpsertPages =
    "INSERT INTO work_plane.pages AS t (workspace_slug, plane_id, project_plane_id, name, access, "
    "is_locked, owned_by, parent_plane_id, archived_at, plane_created_at, plane_updated_at, raw, "
    "synced_at, gone_at) "
    "SELECT DISTINCT ON (r.plane_id) $1, r.plane_id, r.project_plane_id, r.name, r.access, "
    "r.is_locked, r.owned_by, r.parent_plane_id, r.archived_at, r.plane_created_at, "
    "r.plane_updated_at, r.raw, now(), NULL "
    "FROM jsonb_to_recordset($2::jsonb) AS r(plane_id text, project_plane_id text, name text, "
    "access int, is_locked boolean, owned_by text, parent_plane_id text, archived_at timestamptz, "
    "plane_created_at timestamptz, plane_updated_at timestamptz, raw jsonb) "
    "ORDER BY r.plane_id, r.plane_updated_at DESC NULLS LAST "
    "ON CONFLICT (workspace_slug, plane_id) DO UPDATE SET "
    "project_plane_id = excluded.project_plane_id, name = excluded.name, "
    "access = excluded.access, is_locked = excluded.is_locked, owned_by = excluded.owned_by, "
    "parent_plane_id = excluded.parent_plane_id, archived_at = excluded.archived_at, "
    "plane_created_at = excluded.plane_created_at, plane_updated_at = excluded.plane_updated_at, "
    "raw = excluded.raw, synced_at = excluded.synced_at, gone_at = NULL" PLANE_UPSERT_GUARD;

#undef PLANE_UPSERT_GUARD

}  // namespace plane::pg::mirror_sql
