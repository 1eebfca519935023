// Library entry point: settings, shared memory and the launcher worker.
#include "pg/gucs.hpp"
#include "pg/pg_prelude.hpp"
#include "pg/shared_state.hpp"
#include "pg/webhook_receiver.hpp"
#include "pg/workers.hpp"

extern "C" {

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

void _PG_init(void) {
  plane::pg::define_settings();
  // Without shared_preload_libraries the SQL functions still work (process_events inline, the
  // regression tests); only the background workers and sync_now's wake-up need preloading.
  if (!process_shared_preload_libraries_in_progress) return;
  plane::pg::request_shared_state();
  plane::pg::register_launcher();
  plane::pg::register_queue_worker();
  plane::pg::register_webhook_receiver();
}

}  // extern "C"
