// How every plane_connector worker starts: connected to its database with a search_path that no
// role or setting can change (the workers run as the bootstrap superuser, and an unqualified name
// resolved through a schema where anyone may create objects would run that role's code), and, for
// the static workers, after a pause that grows while their starts keep failing.
#pragma once

#include "pg/shared_state.hpp"

namespace plane::pg {

// search_path = pg_catalog, pg_temp at override level: above ALTER DATABASE/ROLE ... SET and the
// configuration file, so every statement of this process resolves only in pg_catalog (pg_temp is
// never searched for functions or operators).
void pin_search_path();

// Connects a static worker to plane.database and pins its search_path. A start that fails (the
// database is missing: FATAL) is counted in shared memory; the next start waits 2^n seconds, up to
// a minute, instead of failing every second.
void connect_static_worker(StaticWorker which);

}  // namespace plane::pg
