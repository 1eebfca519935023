// The DROP EXTENSION event trigger: before plane_connector's objects are dropped, the shared ops
// tables that hold other connectors' rows (and an ops schema holding other objects) are detached
// from the extension, so that DROP EXTENSION — even with CASCADE — leaves them and their rows.
#include "pg/boundary.hpp"
#include "pg/spi_plan.hpp"

extern "C" {
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
}

namespace {

// Whether the statement drops plane_connector.
bool drops_this_extension(Node* parsetree) noexcept {
  if (parsetree == nullptr || !IsA(parsetree, DropStmt)) return false;
  const DropStmt* stmt = reinterpret_cast<const DropStmt*>(parsetree);
  if (stmt->removeType != OBJECT_EXTENSION) return false;
  ListCell* cell = nullptr;
  foreach (cell, stmt->objects) {
    Node* name = static_cast<Node*>(lfirst(cell));
    if (IsA(name, String) && strcmp(strVal(name), "plane_connector") == 0) return true;
  }
  return false;
}

}  // namespace

// work_plane._on_drop_extension() → event_trigger (ddl_command_start, DROP EXTENSION)
PLANE_SQL_FUNCTION(plane_on_drop_extension) {
  plane::pg::pg_call([&]() noexcept {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo)) elog(ERROR, "plane_connector: not called as an event trigger");
    const EventTriggerData* trigger = reinterpret_cast<EventTriggerData*>(fcinfo->context);
    if (!drops_this_extension(trigger->parsetree)) return;
    plane::pg::spi_connect();
    plane::pg::exec_sql("SELECT work_plane._release_shared_ops()", 0, nullptr, nullptr, nullptr, false,
                        SPI_OK_SELECT);
    SPI_finish();
  });
  PG_RETURN_NULL();
}
