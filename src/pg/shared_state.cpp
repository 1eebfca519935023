#include "pg/shared_state.hpp"

namespace plane::pg {

namespace {

SharedState* state = nullptr;
RunningSyncSlot* my_run = nullptr;  // this process's registration, if any
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

void shmem_request() {
  if (prev_shmem_request_hook) prev_shmem_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

void shmem_startup() {
  if (prev_shmem_startup_hook) prev_shmem_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  state = static_cast<SharedState*>(ShmemInitStruct("plane_connector", sizeof(SharedState), &found));
  if (!found) {
    SpinLockInit(&state->mutex);
    state->launcher_pid = 0;
    state->launcher_latch = nullptr;
    SpinLockInit(&state->budget_mutex);
    for (auto& slot : state->budgets) {
      slot.key_id[0] = '\0';
      slot.last_used_ms = 0;
      plane::budget_reset(slot.state);
    }
    state->queue_worker_pid = 0;
    state->queue_worker_latch = nullptr;
    SpinLockInit(&state->counters_mutex);
    for (auto& c : state->counters) {
      c.slug[0] = '\0';
      for (pg_atomic_uint64* a : {&c.accepted, &c.duplicates, &c.unauthorized, &c.malformed,
                                  &c.too_large, &c.applied}) {
        pg_atomic_init_u64(a, 0);
      }
    }
    pg_atomic_init_u64(&state->counters_overflow_rejected, 0);
    for (auto& a : state->audit) pg_atomic_init_u32(&a.state, 0);
    pg_atomic_init_u64(&state->audit_dropped, 0);
    SpinLockInit(&state->runs_mutex);
    for (auto& r : state->runs) {
      r.slug[0] = '\0';
      r.pid = 0;
      r.latch = nullptr;
      pg_atomic_init_u32(&r.cancel, 0);
    }
    for (auto& f : state->failed_starts) pg_atomic_init_u32(&f, 0);
  }
  LWLockRelease(AddinShmemInitLock);
}

}  // namespace

void request_shared_state() {
  prev_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = shmem_request;
  prev_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = shmem_startup;
}

SharedState* shared_state() { return state; }

void set_launcher(Latch* latch, pid_t pid) {
  if (state == nullptr) return;
  SpinLockAcquire(&state->mutex);
  state->launcher_latch = latch;
  state->launcher_pid = pid;
  SpinLockRelease(&state->mutex);
}

void clear_launcher() { set_launcher(nullptr, 0); }

pid_t launcher_pid() {
  if (state == nullptr) return 0;
  SpinLockAcquire(&state->mutex);
  pid_t pid = state->launcher_pid;
  SpinLockRelease(&state->mutex);
  return pid;
}

BudgetSlot* lock_budget_slot(const char* key_id, std::int64_t now_ms) {
  SpinLockAcquire(&state->budget_mutex);
  BudgetSlot* victim = &state->budgets[0];
  for (auto& slot : state->budgets) {
    if (strcmp(slot.key_id, key_id) == 0) {
      slot.last_used_ms = now_ms;
      return &slot;
    }
    if (slot.key_id[0] == '\0' || slot.last_used_ms < victim->last_used_ms) victim = &slot;
  }
  // A new key takes a free slot, or the one unused longest (its window has long expired).
  strlcpy(victim->key_id, key_id, sizeof victim->key_id);
  victim->last_used_ms = now_ms;
  plane::budget_reset(victim->state);
  return victim;
}

void unlock_budget_slot() { SpinLockRelease(&state->budget_mutex); }

void set_queue_worker(Latch* latch, pid_t pid) {
  if (state == nullptr) return;
  SpinLockAcquire(&state->mutex);
  state->queue_worker_latch = latch;
  state->queue_worker_pid = pid;
  SpinLockRelease(&state->mutex);
}

pid_t queue_worker_pid() {
  if (state == nullptr) return 0;
  SpinLockAcquire(&state->mutex);
  pid_t pid = state->queue_worker_pid;
  SpinLockRelease(&state->mutex);
  return pid;
}

bool wake_queue_worker() {
  if (state == nullptr) return false;
  SpinLockAcquire(&state->mutex);
  Latch* latch = state->queue_worker_latch;
  SpinLockRelease(&state->mutex);
  if (latch == nullptr) return false;
  SetLatch(latch);
  return true;
}

WebhookCounters* webhook_counters(const char* slug) {
  if (state == nullptr) return nullptr;
  // Slots are claimed once and never released; the scan is short enough to do under the lock.
  WebhookCounters* found = nullptr;
  SpinLockAcquire(&state->counters_mutex);
  for (auto& c : state->counters) {
    if (c.slug[0] != '\0' && strcmp(c.slug, slug) == 0) {
      found = &c;
      break;
    }
    if (c.slug[0] == '\0') {
      strlcpy(c.slug, slug, sizeof c.slug);
      found = &c;
      break;
    }
  }
  SpinLockRelease(&state->counters_mutex);
  return found;
}

bool wake_launcher() {
  if (state == nullptr) return false;
  SpinLockAcquire(&state->mutex);
  Latch* latch = state->launcher_latch;
  SpinLockRelease(&state->mutex);
  if (latch == nullptr) return false;
  SetLatch(latch);
  return true;
}

bool register_running_sync(const char* slug) {
  if (state == nullptr) return false;
  SpinLockAcquire(&state->runs_mutex);
  for (auto& r : state->runs) {
    // A slot of a process that died without unregistering is taken over for the same workspace.
    if (r.slug[0] == '\0' || strcmp(r.slug, slug) == 0) {
      strlcpy(r.slug, slug, sizeof r.slug);
      r.pid = MyProcPid;
      r.latch = MyLatch;
      pg_atomic_write_u32(&r.cancel, 0);
      my_run = &r;
      break;
    }
  }
  SpinLockRelease(&state->runs_mutex);
  return my_run != nullptr;
}

void unregister_running_sync() {
  if (state == nullptr || my_run == nullptr) return;
  SpinLockAcquire(&state->runs_mutex);
  if (my_run->pid == MyProcPid) {
    my_run->slug[0] = '\0';
    my_run->pid = 0;
    my_run->latch = nullptr;
  }
  SpinLockRelease(&state->runs_mutex);
  my_run = nullptr;
}

bool running_sync_cancelled() {
  return my_run != nullptr && pg_atomic_read_u32(&my_run->cancel) != 0;
}

bool request_sync_cancel(const char* slug) {
  if (state == nullptr) return false;
  Latch* latch = nullptr;
  bool found = false;
  SpinLockAcquire(&state->runs_mutex);
  for (auto& r : state->runs) {
    if (r.slug[0] != '\0' && strcmp(r.slug, slug) == 0) {
      pg_atomic_write_u32(&r.cancel, 1);
      latch = r.latch;
      found = true;
      break;
    }
  }
  SpinLockRelease(&state->runs_mutex);
  if (latch != nullptr) SetLatch(latch);  // a latch lives in shared memory: valid after the lock
  return found;
}

}  // namespace plane::pg
