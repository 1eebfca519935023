// Shared memory of the extension: where the launcher's latch is, so that sync_now can wake it.
#pragma once

#include "pg/pg_prelude.hpp"

namespace plane::pg {

struct SharedState {
  slock_t mutex;
  pid_t launcher_pid;
  Latch* launcher_latch;  // &PGPROC->procLatch of the launcher: lives in shared memory
};

void request_shared_state();  // from _PG_init / shmem_request_hook
SharedState* shared_state();  // nullptr when the library was not preloaded

void set_launcher(Latch* latch, pid_t pid);
void clear_launcher();
pid_t launcher_pid();
// Sets the launcher's latch; false when no launcher is running.
bool wake_launcher();

}  // namespace plane::pg
