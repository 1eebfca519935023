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
#include "pg/sync_run.hpp"

namespace plane::pg {

namespace {

constexpr const char* kLibrary = "plane_connector";

// A dynamic sync worker the launcher started and has not yet seen exit.
struct RunningSync {
  std::string slug;
  BackgroundWorkerHandle* handle;  // palloc'd in TopMemoryContext by Postgres; freed on reap
};

struct DueInstallation {
  std::string slug;
};

bool extension_present() {
  bool present = false;
  in_transaction([&]() noexcept {
    present = OidIsValid(get_extension_oid("plane_connector", true));
  });
  return present;
}

// After a crash or restart, runs marked 'running' whose worker is gone are marked interrupted
// (pg_cron does the same with in-flight jobs): sync_status must never show a dead run as live.
// They are requested again at once, so the interrupted backfill resumes from its cursor.
void recover_interrupted_runs() {
  in_transaction([&]() noexcept {
    SPI_execute(
        "UPDATE work_plane.sync_state SET state = 'interrupted', worker_pid = NULL, "
        "requested_at = coalesce(requested_at, now()), "
        "last_error = 'interrupted: the sync worker stopped (restart or crash); resumed from the "
        "saved cursor', last_error_at = now(), updated_at = now() "
        "WHERE state IN ('running', 'queued') AND (worker_pid IS NULL OR worker_pid NOT IN "
        "(SELECT pid FROM pg_stat_activity))",
        false, 0);
  });
}

// Installations whose sync was requested or whose poll interval has elapsed, excluding those
// already running. Also returns how long until the next one falls due.
std::vector<DueInstallation> find_due(const std::vector<RunningSync>& running, int limit,
                                      long& next_due_ms) {
  std::vector<DueInstallation> due;
  std::string running_list;  // comma-separated; slugs are [A-Za-z0-9_-], so no escaping needed
  for (const auto& r : running) {
    if (!running_list.empty()) running_list += ',';
    running_list += r.slug;
  }
  std::vector<std::string> slugs;
  long next_ms = -1;
  in_transaction([&]() noexcept {
    Oid types[3] = {TEXTOID, INT4OID, INT4OID};
    Datum values[3] = {CStringGetTextDatum(running_list.c_str()),
                       Int32GetDatum(settings.poll_interval_s),
                       Int32GetDatum(settings.oauth_refresh_margin_s)};
    // A sync is also due when the installation's OAuth or bot token is about to lapse: the run
    // renews it first, so tokens stay fresh for mcp_call and refresh tokens stay alive.
    // Installations that need re-authorisation wait for the OAuth flow.
    const int rc = SPI_execute_with_args(
        "WITH t AS (SELECT i.workspace_slug, s.requested_at, s.last_attempt_at, "
        "  s.last_attempt_at + coalesce(i.poll_interval, make_interval(secs => $2)) AS poll_due, "
        // After a failed run (say the token endpoint answered 5xx) not before a minute has
        // passed: an expired token must not turn the launcher into a loop of failing runs.
        "  (SELECT greatest(d.due, CASE WHEN s.state = 'failed' "
        "     THEN s.last_attempt_at + interval '1 minute' END) "
        "   FROM (SELECT min(r.expires_at - least(make_interval(secs => $3), "
        "     (r.expires_at - r.updated_at) / 2)) AS due "
        "     FROM work_plane.tokens_ref r WHERE r.workspace_slug = i.workspace_slug "
        "      AND ((i.auth_mode = 'oauth' AND r.kind = 'access_token' AND r.user_id = i.oauth_user_id) "
        "        OR (i.auth_mode = 'bot' AND r.kind = 'bot_token'))) d "
        "   WHERE d.due IS NOT NULL) AS renew_due "
        "  FROM work_plane.installations i "
        "  JOIN work_plane.sync_state s USING (workspace_slug) "
        "  WHERE i.enabled AND i.auth_status = 'ok' "
        "    AND NOT (i.workspace_slug = ANY (string_to_array($1, ',')))) "
        "SELECT workspace_slug, "
        "  (requested_at IS NOT NULL OR last_attempt_at IS NULL OR least(poll_due, renew_due) <= now()) AS due, "
        "  greatest(0, extract(epoch FROM (least(poll_due, renew_due) - now())) * 1000)::bigint AS due_in_ms "
        "FROM t ORDER BY requested_at NULLS LAST, last_attempt_at NULLS FIRST",
        3, types, values, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "plane_connector: could not list installations");
    for (uint64 r = 0; r < SPI_processed; ++r) {
      bool isnull = false;
      HeapTuple tup = SPI_tuptable->vals[r];
      const bool is_due = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
      if (is_due) {
        char* slug = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
        slugs.emplace_back(slug);
      } else {
        const long in_ms = static_cast<long>(
            DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull)));
        if (!isnull && (next_ms < 0 || in_ms < next_ms)) next_ms = in_ms;
      }
    }
  });
  for (auto& s : slugs) {
    if (static_cast<int>(due.size()) >= limit) {
      next_ms = 0;  // more are due than we may start: come back as soon as a slot frees
      break;
    }
    due.push_back({std::move(s)});
  }
  next_due_ms = next_ms;
  return due;
}

// History is bounded: plane_connector's rows in ops.run_events older than the retention go, in
// batches so that one prune never holds a long transaction.
void prune_history() {
  in_transaction([&]() noexcept {
    Oid types[1] = {INT4OID};
    Datum values[1] = {Int32GetDatum(settings.retention_s)};
    SPI_execute_with_args(
        "DELETE FROM ops.run_events WHERE id IN (SELECT id FROM ops.run_events "
        "WHERE source LIKE 'plane%' AND created_at < now() - make_interval(secs => $1) LIMIT 10000)",
        1, types, values, nullptr, false, 0);
  });
}

void mark_queued(const std::string& slug) {
  in_transaction([&]() noexcept {
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(slug.c_str())};
    SPI_execute_with_args(
        "UPDATE work_plane.sync_state SET state = 'queued', updated_at = now() "
        "WHERE workspace_slug = $1 AND state <> 'running'",
        1, types, values, nullptr, false, 0);
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
      if (extension_present()) {
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
        std::vector<DueInstallation> due = find_due(running, std::max(slots, 0), next_due_ms);
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
      std::snprintf(message, sizeof message, "%s", e.what());
      ereport(LOG, (errmsg("plane_connector launcher: %s", message)));
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
      if (extension_present()) flush_audit_outbox();
      if (settings.queue_worker_enabled && extension_present()) {
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
      std::snprintf(message, sizeof message, "%s", e.what());
      ereport(LOG, (errmsg("plane_connector queue worker: %s", message)));
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
  BackgroundWorkerInitializeConnection(plane::pg::settings.database, nullptr, 0);
  pgstat_report_appname("plane_connector launcher");
  plane::pg::set_launcher(MyLatch, MyProcPid);
  bool failed = false;
  char message[512];
  try {
    plane::pg::launcher_loop();
  } catch (const std::exception& e) {
    std::snprintf(message, sizeof message, "%s", e.what());
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
  BackgroundWorkerInitializeConnection(plane::pg::settings.database, nullptr, 0);
  pgstat_report_appname("plane_connector queue");
  plane::pg::set_queue_worker(MyLatch, MyProcPid);
  char message[512];
  bool failed = false;
  try {
    plane::pg::queue_loop();
  } catch (const std::exception& e) {
    std::snprintf(message, sizeof message, "%s", e.what());
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
  pgstat_report_appname("plane_connector sync");
  char activity[BGW_EXTRALEN + 64];
  std::snprintf(activity, sizeof activity, "plane_connector: syncing workspace %s", slug);
  pgstat_report_activity(STATE_RUNNING, activity);
  plane::pg::run_workspace_sync(slug);  // noexcept: no C++ exception reaches this frame
  pgstat_report_activity(STATE_IDLE, nullptr);
  proc_exit(0);
}

}  // extern "C"
