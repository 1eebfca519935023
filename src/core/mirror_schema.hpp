// The mirror tables as the C++ code writes them: one description per table, the only place the
// typed columns are listed. The Postgres layer generates its upsert statements from it, the mappers
// (mapping.hpp) fill exactly these keys, and a regression test compares every list with the
// extension script's tables (information_schema), so that the three cannot drift apart.
#pragma once

#include <string>
#include <vector>

namespace plane {

enum class MirrorTable { Projects, Items, States, Labels, Pages };
inline constexpr MirrorTable kMirrorTables[] = {MirrorTable::Projects, MirrorTable::Items,
                                                MirrorTable::States, MirrorTable::Labels,
                                                MirrorTable::Pages};

// Who wrote a row last (the change_source column; history records it with every change).
enum class ChangeSource { Sync, Refresh, Webhook, Writeback };
const char* change_source_name(ChangeSource source);  // "sync", "refresh", "webhook", "writeback"

struct MirrorColumn {
  const char* name;
  const char* sql_type;  // what the upsert casts the column's text to ("text": no cast)
  // Written when the row is inserted, never by the upsert's update: Plane's objects do not carry
  // it (a work item's cycle and modules come from other lists, which the sync reads before the
  // items and applies after them); a mapper leaves it out, NULL or the column's empty value.
  bool insert_only = false;
};

// Besides these typed columns every mirror table has workspace_slug, raw, synced_at, gone_at and
// change_source, which the upsert fills itself.
struct MirrorTableSpec {
  MirrorTable table;
  const char* qualified_name;         // "work_plane.items"
  std::vector<MirrorColumn> columns;  // plane_id first
};

const MirrorTableSpec& mirror_table_spec(MirrorTable table);
const char* mirror_table_name(MirrorTable table);  // "work_plane.items"

}  // namespace plane
