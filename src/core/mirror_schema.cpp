#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/mirror_schema.hpp"

#include "core/errors.hpp"

namespace plane {

namespace {

// Built on first use (function-local statics): other translation units' static initialisers
// (the Postgres layer's statements) read them while the library loads.
const MirrorTableSpec& projects_spec() {
  static const MirrorTableSpec spec{MirrorTable::Projects,
                                "work_plane.projects",
                                {{"plane_id", "text"},
                                 {"name", "text"},
                                 {"identifier", "text"},
                                 {"description_text", "text"},
                                 {"network", "int"},
                                 {"is_member", "boolean"},
                                 {"timezone", "text"},
                                 {"archived_at", "timestamptz"},
                                 {"plane_created_at", "timestamptz"},
                                 {"plane_updated_at", "timestamptz"}}};
  return spec;
}

const MirrorTableSpec& items_spec() {
  static const MirrorTableSpec spec{MirrorTable::Items,
                             "work_plane.items",
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
                              {"plane_updated_at", "timestamptz"},
                              {"description_text", "text"},
                              {"cycle_plane_id", "text", true},
                              {"module_ids", "text[]", true}}};
  return spec;
}

const MirrorTableSpec& states_spec() {
  static const MirrorTableSpec spec{MirrorTable::States,
                              "work_plane.states",
                              {{"plane_id", "text"},
                               {"project_plane_id", "text"},
                               {"name", "text"},
                               {"group", "text"},
                               {"color", "text"},
                               {"sequence", "double precision"},
                               {"is_default", "boolean"},
                               {"plane_created_at", "timestamptz"},
                               {"plane_updated_at", "timestamptz"}}};
  return spec;
}

const MirrorTableSpec& labels_spec() {
  static const MirrorTableSpec spec{MirrorTable::Labels,
                              "work_plane.labels",
                              {{"plane_id", "text"},
                               {"project_plane_id", "text"},
                               {"name", "text"},
                               {"color", "text"},
                               {"parent_plane_id", "text"},
                               {"plane_created_at", "timestamptz"},
                               {"plane_updated_at", "timestamptz"}}};
  return spec;
}

const MirrorTableSpec& pages_spec() {
  static const MirrorTableSpec spec{MirrorTable::Pages,
                             "work_plane.pages",
                             {{"plane_id", "text"},
                              {"project_plane_id", "text"},
                              {"name", "text"},
                              {"access", "int"},
                              {"is_locked", "boolean"},
                              {"owned_by", "text"},
                              {"parent_plane_id", "text"},
                              {"archived_at", "timestamptz"},
                              {"plane_created_at", "timestamptz"},
                              {"plane_updated_at", "timestamptz"},
                              {"content_text", "text"}}};
  return spec;
}

}  // namespace

const char* change_source_name(ChangeSource source) {
  switch (source) {
    case ChangeSource::Sync: return "sync";
    case ChangeSource::Refresh: return "refresh";
    case ChangeSource::Webhook: return "webhook";
    case ChangeSource::Writeback: return "writeback";
  }
  return "sync";
}

const MirrorTableSpec& mirror_table_spec(MirrorTable table) {
  switch (table) {
    case MirrorTable::Projects: return projects_spec();
    case MirrorTable::Items: return items_spec();
    case MirrorTable::States: return states_spec();
    case MirrorTable::Labels: return labels_spec();
    case MirrorTable::Pages: return pages_spec();
  }
  throw PlaneError(ErrorKind::Internal, "no such mirror table");
}

const char* mirror_table_name(MirrorTable table) { return mirror_table_spec(table).qualified_name; }

}  // namespace plane
