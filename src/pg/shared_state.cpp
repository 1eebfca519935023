#include "pg/shared_state.hpp"

namespace plane::pg {

namespace {

SharedState* state = nullptr;
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

bool wake_launcher() {
  if (state == nullptr) return false;
  SpinLockAcquire(&state->mutex);
  Latch* latch = state->launcher_latch;
  SpinLockRelease(&state->mutex);
  if (latch == nullptr) return false;
  SetLatch(latch);
  return true;
}

}  // namespace plane::pg
