#include "pg/workers.hpp"

#include <malloc.h>

#include <cstring>
#include <string>
#include <vector>

#include "pg/audit_outbox.hpp"
#include "pg/boundary.hpp"
#include "pg/event_queue.hpp"
#include "pg/gucs.hpp"
#include "pg/shared_state.hpp"
#include "pg/spi_plan.hpp"
#include "pg/sync_run.hpp"
#include "pg/sync_state_store.hpp"
#include "pg/worker_start.hpp"

namespace plane::pg {

namespace {

constexpr const char* kLibrary = "plane_connector";

// A dynamic sync worker the launcher started and has not yet seen exit.
struct RunningSync {
  std::string slug;
  BackgroundWorkerHandle* handle;  // palloc'd in TopMemoryContext by Postgres; freed on reap
};

// The schema version this library's statements are written for: the workers idle (and say so)
// while another version is installed, between a package upgrade and ALTER EXTENSION ... UPDATE.
constexpr const char* kSchemaVersion = "0.2.0";

// Whether the extension is installed in this database at the version this library expects.
bool extension_ready() {
  std::string version;
  in_transaction([&]() noexcept {
    const Oid ext = get_extension_oid("plane_connector", true);
    if (!OidIsValid(ext)) return;
    exec_sql("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'plane_connector'", 0,
             nullptr, nullptr, nullptr, true, SPI_OK_SELECT, 1);
    char* v = SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : nullptr;
    if (v != nullptr) cpp_step([&] { version = v; });
  });
  if (version.empty()) return false;
  static std::string reported;
  if (version != kSchemaVersion) {
    if (reported != version) {
      ereport(LOG, (errmsg("plane_connector: the library expects extension version %s but %s is "
                           "installed; the workers wait",
                           kSchemaVersion, version.c_str()),
                    errhint("Run ALTER EXTENSION plane_connector UPDATE in database \"%s\".",
                            settings.database)));
      reported = version;
    }
    return false;
  }
  reported.clear();
  return true;
}

// History is bounded: plane_connector's rows in ops.run_events older than plane.run_events_retention
// go, in batches so that one prune never holds a long transaction; work item changes older than
// plane.history_retention go too (work_plane.prune_history, which analysts may also call).
void prune_history() {
  in_transaction([&]() noexcept {
    Oid types[1] = {INT4OID};
    Datum values[1] = {Int32GetDatum(settings.retention_s)};
    exec_sql(
        "DELETE FROM ops.run_events WHERE id IN (SELECT id FROM ops.run_events "
        "WHERE source LIKE 'plane%' AND created_at < pg_catalog.now() - "
        "pg_catalog.make_interval(secs => $1::float8) LIMIT 10000)",
        1, types, values, nullptr, false, SPI_OK_DELETE);
  });
  in_transaction([&]() noexcept {
    exec_sql("SELECT work_plane.prune_history()", 0, nullptr, nullptr, nullptr, false, SPI_OK_SELECT);
  });
}

BackgroundWorkerHandle* start_sync_worker(const std::string& slug) {
  BackgroundWorker worker;
  std::memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher starts the next run
  std::snprintf(worker.bgw_library_name, BGW_MAXLEN, "%s", kLibrary);
  std::snprintf(worker.bgw_function_name, BGW_MAXLEN, "plane_sync_worker_main");
  std::snprintf(worker.bgw_name, BGW_MAXLEN, "plane_connector sync %s", slug.c_str());
  std::snprintf(worker.bgw_type, BGW_MAXLEN, "plane_connector sync");
  worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
  std::snprintf(worker.bgw_extra, BGW_EXTRALEN, "%s", slug.c_str());
  worker.bgw_notify_pid = MyProcPid;  // our latch is set when it starts and when it exits
  BackgroundWorkerHandle* handle = nullptr;
  if (!RegisterDynamicBackgroundWorker(&worker, &handle)) return nullptr;
  return handle;
}

void reap_finished(std::vector<RunningSync>& running) {
  for (auto it = running.begin(); it != running.end();) {
    pid_t pid = 0;
    if (GetBackgroundWorkerPid(it->handle, &pid) == BGWH_STOPPED) {
      pfree(it->handle);
      it = running.erase(it);
    } else {
      ++it;
    }
  }
}

void launcher_loop() {
  std::vector<RunningSync> running;
  bool recovered = false;
  TimestampTz last_prune = 0;
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    long wait_ms = static_cast<long>(settings.launcher_naptime_s) * 1000;
    reap_finished(running);
    try {
      if (extension_ready()) {
        if (!recovered) {
          recover_interrupted_runs();
          recovered = true;
        }
        if (TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(), 10 * 60 * 1000)) {
          prune_history();
          last_prune = GetCurrentTimestamp();
        }
        const int slots = settings.max_sync_workers - static_cast<int>(running.size());
        long next_due_ms = -1;
        std::vector<std::string> running_slugs;
        for (const auto& r : running) running_slugs.push_back(r.slug);
        std::vector<DueInstallation> due =
            find_due(running_slugs, std::max(slots, 0), settings.poll_interval_s,
                     settings.oauth_refresh_margin_s, next_due_ms);
        for (const auto& d : due) {
          mark_queued(d.slug);
          BackgroundWorkerHandle* handle = start_sync_worker(d.slug);
          if (handle == nullptr) {
            ereport(LOG, (errmsg("plane_connector: no background worker slot for workspace "
                                 "\"%s\"; raise max_worker_processes",
                                 d.slug.c_str())));
            next_due_ms = 1000;
            break;
          }
          running.push_back({d.slug, handle});
        }
        if (next_due_ms >= 0 && next_due_ms < wait_ms) wait_ms = std::max(next_due_ms, 10L);
      }
    } catch (const std::exception& e) {
      // A failed check (say, the extension being dropped meanwhile) is retried next wake-up.
      char message[512];
      copy_message(message, sizeof message, e.what());
      ereport(LOG, (errmsg("plane_connector launcher: %s", message)));
    } catch (...) {
      ereport(LOG, (errmsg("plane_connector launcher: unknown C++ exception")));
    }
    pgstat_report_activity(STATE_IDLE, nullptr);
    // Long-lived workers must hand their table statistics over themselves (backends do it when
    // idle): without this autovacuum never learns of the rows they change.
    pgstat_report_stat(true);
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
  for (auto& r : running) pfree(r.handle);
}

}  // namespace

void queue_loop() {
  TimestampTz last_prune = 0;
  while (!ShutdownRequestPending) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    long wait_ms = static_cast<long>(settings.launcher_naptime_s) * 1000;
    try {
      const bool ready = extension_ready();
      if (ready) flush_audit_outbox();
      if (settings.queue_worker_enabled && ready) {
        // Drain while there is work; a full batch means there may be more right now.
        int claimed = 0;
        do {
          pgstat_report_activity(STATE_RUNNING, "plane_connector: applying webhook events");
          claimed = drain_batch_in_worker(std::max(1, settings.queue_batch_size));
        } while (claimed >= settings.queue_batch_size && !ShutdownRequestPending);
        if (TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(), 10 * 60 * 1000)) {
          prune_applied_events();
          last_prune = GetCurrentTimestamp();
        }
        const long next = seconds_until_next_event();  // a retry waiting for its backoff
        if (next >= 0 && next * 1000 < wait_ms) wait_ms = std::max(next * 1000, 10L);
      }
    } catch (const std::exception& e) {
      char message[512];
      copy_message(message, sizeof message, e.what());
      ereport(LOG, (errmsg("plane_connector queue worker: %s", message)));
      wait_ms = 1000;
    } catch (...) {
      ereport(LOG, (errmsg("plane_connector queue worker: unknown C++ exception")));
      wait_ms = 1000;
    }
    pgstat_report_activity(STATE_IDLE, nullptr);
    pgstat_report_stat(true);  // the queue's and the mirror's changes reach autovacuum
    // Woken at commit of an enqueue (ingest_webhook), so an idle system applies within ms.
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}

void register_queue_worker() {
  BackgroundWorker worker;
  std::memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 1;
  std::snprintf(worker.bgw_library_name, BGW_MAXLEN, "%s", kLibrary);
  std::snprintf(worker.bgw_function_name, BGW_MAXLEN, "plane_queue_worker_main");
  std::snprintf(worker.bgw_name, BGW_MAXLEN, "plane_connector queue");
  std::snprintf(worker.bgw_type, BGW_MAXLEN, "plane_connector queue");
  RegisterBackgroundWorker(&worker);
}

void register_launcher() {
  BackgroundWorker worker;
  std::memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 1;  // the postmaster restarts it a second after it dies
  std::snprintf(worker.bgw_library_name, BGW_MAXLEN, "%s", kLibrary);
  std::snprintf(worker.bgw_function_name, BGW_MAXLEN, "plane_launcher_main");
  std::snprintf(worker.bgw_name, BGW_MAXLEN, "plane_connector launcher");
  std::snprintf(worker.bgw_type, BGW_MAXLEN, "plane_connector launcher");
  RegisterBackgroundWorker(&worker);
}

}  // namespace plane::pg

namespace {

// Workers handle page- and batch-sized buffers (a page of JSON, its jsonb, the rows): glibc would
// mmap each one above its dynamic threshold or hand the top of the heap back after each page, and
// every page would then fault its memory in anew (12% of a backfill's CPU). Keep freed memory in
// the heap for reuse; the resident size stays that of the largest page, not of the whole sync.
void keep_freed_memory_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

}  // namespace

extern "C" {

void plane_launcher_main(Datum arg) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  plane::pg::connect_static_worker(plane::pg::StaticWorker::Launcher);
  pgstat_report_appname("plane_connector launcher");
  plane::pg::set_launcher(MyLatch, MyProcPid);
  bool failed = false;
  char message[512];
  try {
    plane::pg::launcher_loop();
  } catch (const std::exception& e) {
    plane::pg::copy_message(message, sizeof message, e.what());
    failed = true;
  } catch (...) {
    std::snprintf(message, sizeof message, "unknown C++ exception");
    failed = true;
  }
  plane::pg::clear_launcher();
  if (failed) ereport(LOG, (errmsg("plane_connector launcher stopped: %s", message)));
  // Exit code 1 in every case: the postmaster restarts the launcher after bgw_restart_time unless
  // it is shutting down, so a launcher stopped by pg_terminate_backend or a failure comes back.
  proc_exit(1);
}

void plane_queue_worker_main(Datum arg) {
  keep_freed_memory_for_reuse();
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
  BackgroundWorkerUnblockSignals();
  plane::pg::connect_static_worker(plane::pg::StaticWorker::Queue);
  pgstat_report_appname("plane_connector queue");
  plane::pg::set_queue_worker(MyLatch, MyProcPid);
  char message[512];
  bool failed = false;
  try {
    plane::pg::queue_loop();
  } catch (const std::exception& e) {
    plane::pg::copy_message(message, sizeof message, e.what());
    failed = true;
  } catch (...) {
    std::snprintf(message, sizeof message, "unknown C++ exception");
    failed = true;
  }
  plane::pg::set_queue_worker(nullptr, 0);
  if (failed) ereport(LOG, (errmsg("plane_connector queue worker stopped: %s", message)));
  proc_exit(1);  // restarted by the postmaster unless it is shutting down
}

void plane_sync_worker_main(Datum arg) {
  keep_freed_memory_for_reuse();
  // die: SIGTERM sets ProcDiePending and our latch; the HTTP loop and waits poll it and unwind.
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  char slug[BGW_EXTRALEN];
  std::snprintf(slug, sizeof slug, "%s", MyBgworkerEntry->bgw_extra);
  BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
  plane::pg::pin_search_path();
  pgstat_report_appname("plane_connector sync");
  char activity[BGW_EXTRALEN + 64];
  std::snprintf(activity, sizeof activity, "plane_connector: syncing workspace %s", slug);
  pgstat_report_activity(STATE_RUNNING, activity);
  plane::pg::run_workspace_sync(slug);  // noexcept: no C++ exception reaches this frame
  pgstat_report_activity(STATE_IDLE, nullptr);
  proc_exit(0);
}

}  // extern "C"
