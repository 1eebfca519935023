// Draining ops.event_queue into the mirror: claim with FOR UPDATE SKIP LOCKED and a lease, apply
// set-based (never making a row older), mark done; failures back off exponentially and are
// dead-lettered after plane.queue_max_attempts.
#pragma once

namespace plane::pg {

// work_plane.process_events: claims, applies and marks up to max_events in the caller's
// transaction (deployments without the queue worker). Returns the number of events applied.
int process_events_inline(int max_events);

// The queue worker's step: claims one batch (committed, leased), applies it in a second short
// transaction. Returns the number of events claimed (0: nothing ready). Call outside a transaction.
int drain_batch_in_worker(int batch_size);

// Seconds until the next pending event is due, or -1 if none is waiting (worker nap time).
long seconds_until_next_event();

// Deletes applied events past plane.queue_retention (batched). Call outside a transaction.
void prune_applied_events();

}  // namespace plane::pg
