// Applying queued webhook events (ops.event_queue) to the mirror: the rules, behind a port. The
// Postgres layer claims rows and runs the statements (QueueStore); this file decides what each event
// does, how a batch is grouped, what is retried, what is dead-lettered, and in which order a worker
// that crashed claims again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"
#include "core/mapping.hpp"
#include "core/mirror_schema.hpp"

namespace plane {

struct QueuedEvent {
  long long id = 0;
  std::string slug;
  int attempts = 0;     // as claimed (a leased claim has counted this attempt already)
  OwnedTokens payload;  // the delivery as received, as the claim read it out of jsonb
};

// How a batch is claimed. Leased: the claim (attempts + 1, a lease) commits on its own before the
// batch is applied, so that an event that kills the worker has its attempt counted. MarkedDone: the
// claim marks the batch done and the batch is applied in the same transaction (a crash rolls both
// back), one row version per event instead of two.
enum class ClaimMode { Leased, MarkedDone };

struct ClaimRequest {
  int limit = 1;
  ClaimMode mode = ClaimMode::Leased;
  // Only events of a leased batch that was never finished (status processing, lease expired): one
  // of them may be what killed the worker, so they are claimed and applied one at a time.
  bool suspects = false;
};

// The queue worker's order of claims: after a start, the suspects one by one, then one leased
// batch, then batches marked done while all goes well; after a failed batch, leased again.
class DrainPolicy {
 public:
  explicit DrainPolicy(int batch_size) : batch_(batch_size < 1 ? 1 : batch_size) {}
  ClaimRequest next() const;
  // What the claim of `request` returned; a batch is full when it returned `request.limit` rows.
  void claimed(const ClaimRequest& request, std::size_t events);
  void failed() { lease_next_ = true; }  // the batch rolled back: count attempts from now on

 private:
  int batch_;
  bool suspects_ = true;
  bool lease_next_ = true;
};

enum class ApplyKind {
  Upsert,        // rows: mapped mirror rows (raw included)
  MarkGone,      // plane_ids: gone_at
  MarkArchived,  // plane_ids: archived_at (and gone_at for work items, which Plane then hides)
  RequestSync,   // the workspace's sync fetches the objects itself
};

// All the work of one kind for one (workspace, table) in a batch, applied set-based.
struct ApplyGroup {
  std::string slug;
  MirrorTable table = MirrorTable::Items;
  ApplyKind kind = ApplyKind::Upsert;
  nlohmann::json rows = nlohmann::json::array();
  std::vector<OwnedTokens> raws;  // per row: its raw when not in the row ("raw"), else empty
  std::vector<std::string> plane_ids;
  std::vector<long long> event_ids;
};

class QueueStore {
 public:
  virtual ~QueueStore() = default;
  // Applies the groups all-or-nothing (a subtransaction); false with `error` set when nothing was
  // applied.
  virtual bool apply(const std::vector<ApplyGroup>& groups, std::string& error) = 0;
  // Leased claims only: the events are done.
  virtual void mark_done(const std::vector<long long>& ids) = 0;
  // The event failed: dead, or pending again in `retry_in_s` seconds. `count_attempt`: the claim did
  // not count this attempt (MarkedDone), so the mark does.
  virtual void mark_failed(long long id, const std::string& error, bool dead, std::int64_t retry_in_s,
                           bool count_attempt) = 0;
  virtual void count_applied(const std::string& slug, long events) = 0;
  virtual std::int64_t now_us() = 0;
};

struct QueueConfig {
  int max_attempts = 8;
  // A webhook updated_at further ahead than this is not applied (it would pin the row: the mirror
  // is never made older, so every later, true version would be skipped): the sync fetches the
  // object instead.
  std::int64_t max_future_skew_us = 5LL * 60 * 1000 * 1000;
};

// Seconds before a failed event is tried again: exp(min(attempts, 10)), as pgmq and
// graphile-worker do (e, e², … about 6 hours at most).
std::int64_t retry_delay_s(int attempts);

class QueueEngine {
 public:
  QueueEngine(QueueStore& store, QueueConfig config, CalendarZones* zones = nullptr)
      : store_(store), config_(config), zones_(zones) {}
  // Applies claimed events: all together first; if that fails, one by one, so that one bad event
  // cannot hold back the others. Marks every event. Returns how many were applied. Takes the
  // events: their payloads become the rows.
  int apply(std::vector<QueuedEvent> events, ClaimMode mode);

 private:
  QueueStore& store_;
  QueueConfig config_;
  CalendarZones* zones_;
};

}  // namespace plane
