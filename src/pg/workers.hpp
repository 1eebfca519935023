// Background workers: one launcher per cluster (static, restarted by the postmaster) and one
// short-lived sync worker per workspace run (dynamic), so that a slow or failing workspace never
// delays another.
#pragma once

#include "pg/pg_prelude.hpp"

namespace plane::pg {

void register_launcher();
void register_queue_worker();

}  // namespace plane::pg

extern "C" {
PGDLLEXPORT void plane_launcher_main(Datum arg);
PGDLLEXPORT void plane_sync_worker_main(Datum arg);
PGDLLEXPORT void plane_queue_worker_main(Datum arg);
}
