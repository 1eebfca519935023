// Shared memory of the extension: where the launcher's latch is, so that sync_now can wake it.
#pragma once

#include "core/rate_budget.hpp"
#include "pg/pg_prelude.hpp"

namespace plane::pg {

// One API key's request budget, shared by every worker that uses the key. The key is known only
// by a SHA-256 digest of (API URL, key): never the key itself.
struct BudgetSlot {
  char key_id[65];           // hex digest; "" = free slot
  std::int64_t last_used_ms;
  plane::BudgetState state;
};

constexpr int kBudgetSlots = 32;

// Webhook delivery counters per workspace (reset by a restart; the queue keeps the durable truth).
struct WebhookCounters {
  char slug[49];  // "" = free
  pg_atomic_uint64 accepted;
  pg_atomic_uint64 duplicates;
  pg_atomic_uint64 unauthorized;
  pg_atomic_uint64 malformed;
  pg_atomic_uint64 too_large;
  pg_atomic_uint64 applied;
};

constexpr int kWebhookCounterSlots = 64;

// Audit rows that must survive the caller's transaction (an MCP call that ends in an ERROR is
// still logged): written to shared memory, inserted into ops.run_events by the queue worker.
struct AuditSlot {
  pg_atomic_uint32 state;  // 0 free, 1 being written, 2 ready
  char source[24];
  char workspace_slug[49];
  char action[160];
  int32 plane_response_status;  // 0: none
  char details[6144];           // JSON text, truncated to a valid JSON string when too long
};

constexpr int kAuditSlots = 64;

// A sync worker's run, registered while it runs: work_plane.cancel_sync asks it to stop here
// (a flag and its latch) instead of signalling a pid that may have been reused since.
struct RunningSyncSlot {
  char slug[49];  // "" = free
  pid_t pid;
  Latch* latch;
  pg_atomic_uint32 cancel;
};

constexpr int kRunningSyncSlots = 64;

// The static workers' consecutive failed starts, for a growing pause before the next start (a
// missing plane.database makes every start FATAL; restarting each second would flood the log).
enum class StaticWorker { Launcher = 0, Queue = 1, Receiver = 2 };
constexpr int kStaticWorkers = 3;

struct SharedState {
  slock_t mutex;
  pid_t launcher_pid;
  Latch* launcher_latch;  // &PGPROC->procLatch of the launcher: lives in shared memory
  slock_t budget_mutex;   // held only for the few arithmetic steps of a reservation
  BudgetSlot budgets[kBudgetSlots];
  pid_t queue_worker_pid;
  Latch* queue_worker_latch;
  slock_t counters_mutex;  // taken only to claim a counter slot
  WebhookCounters counters[kWebhookCounterSlots];
  pg_atomic_uint64 counters_overflow_rejected;  // rejections of workspaces past the slots
  AuditSlot audit[kAuditSlots];
  pg_atomic_uint64 audit_dropped;  // rows lost because every slot was full
  slock_t runs_mutex;
  RunningSyncSlot runs[kRunningSyncSlots];
  pg_atomic_uint32 failed_starts[kStaticWorkers];
};

void request_shared_state();  // from _PG_init / shmem_request_hook
SharedState* shared_state();  // nullptr when the library was not preloaded

void set_launcher(Latch* latch, pid_t pid);
void clear_launcher();
pid_t launcher_pid();
// Sets the launcher's latch; false when no launcher is running.
bool wake_launcher();

void set_queue_worker(Latch* latch, pid_t pid);
pid_t queue_worker_pid();
bool wake_queue_worker();
// Registers this process as the running sync of `slug` (false when every slot is taken: the run
// then cannot be cancelled by cancel_sync, only by pg_cancel_backend). unregister_running_sync
// frees it.
bool register_running_sync(const char* slug);
void unregister_running_sync();
// Whether cancel_sync asked this process's run to stop.
bool running_sync_cancelled();
// Asks the running sync of `slug` to stop; false when none runs.
bool request_sync_cancel(const char* slug);

// The counters of a workspace, claiming a slot on first use; nullptr without shared memory or
// when every slot is taken.
WebhookCounters* webhook_counters(const char* slug);

// Runs fn(BudgetState&) on the shared slot of key_id (allocating or recycling the least recently
// used slot) under the budget spinlock. fn must be short, allocation-free and unable to throw.
template <typename F>
auto with_shared_budget(const char* key_id, std::int64_t now_ms, F&& fn) -> decltype(fn(std::declval<plane::BudgetState&>()));
BudgetSlot* lock_budget_slot(const char* key_id, std::int64_t now_ms);  // returns with the lock held
void unlock_budget_slot();

template <typename F>
auto with_shared_budget(const char* key_id, std::int64_t now_ms, F&& fn)
    -> decltype(fn(std::declval<plane::BudgetState&>())) {
  BudgetSlot* slot = lock_budget_slot(key_id, now_ms);
  auto result = fn(slot->state);
  unlock_budget_slot();
  return result;
}

}  // namespace plane::pg
