#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/queue_engine.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "core/errors.hpp"
#include "core/timestamp.hpp"
#include "core/webhook_change.hpp"
#include "core/webhook_envelope.hpp"

namespace plane {

using nlohmann::json;

ClaimRequest DrainPolicy::next() const {
  if (suspects_) return {1, ClaimMode::Leased, true};
  return {batch_, lease_next_ ? ClaimMode::Leased : ClaimMode::MarkedDone, false};
}

void DrainPolicy::claimed(const ClaimRequest& request, std::size_t events) {
  if (request.suspects) {
    if (events == 0) suspects_ = false;
    return;
  }
  if (request.mode == ClaimMode::Leased && events > 0) lease_next_ = false;
}

std::int64_t retry_delay_s(int attempts) {
  return static_cast<std::int64_t>(std::ceil(std::exp(std::min(std::max(attempts, 0), 10))));
}

namespace {

// What one event does, decided before anything is written.
struct Prepared {
  long long id = 0;
  std::string slug;
  int attempts = 0;
  std::string dead;  // non-empty: dead-lettered at once, with this error
  std::optional<ApplyKind> kind;  // nullopt: nothing to apply (a type the mirror does not keep)
  MirrorTable table = MirrorTable::Items;
  std::string plane_id;
  json row;
  OwnedTokens raw;  // the row's raw when not in the row
};

Prepared prepare(QueuedEvent& event, ClaimMode mode, const QueueConfig& config,
                 CalendarZones* zones, std::int64_t now_us) {
  Prepared p;
  p.id = event.id;
  p.slug = event.slug;
  p.attempts = event.attempts;
  if (mode == ClaimMode::Leased && event.attempts > config.max_attempts) {
    // Every earlier claim of this event counted an attempt that never ended: the worker died while
    // applying it. Applying it again would only kill the worker again.
    p.dead = "the queue worker stopped while applying this event " + std::to_string(config.max_attempts) +
             " times (plane.queue_max_attempts): dead-lettered without applying it again";
    return p;
  }
  try {
    std::optional<WebhookMirrorChange> change =
        webhook_mirror_change(event.payload.data(), event.payload.size(), zones);
    if (!change) return p;
    p.table = change->table;
    p.plane_id = change->plane_id;
    switch (change->op) {
      case MirrorOp::Upsert: {
        const json& updated = change->row["plane_updated_at"];
        const std::optional<std::int64_t> updated_us =
            updated.is_string() ? parse_timestamp_micros(updated.get_ref<const std::string&>()) : std::nullopt;
        if (!updated_us || *updated_us > now_us + config.max_future_skew_us) {
          // Without Plane's updated_at the row could not be ordered against the mirror, and one
          // from the future would pin it: the workspace's sync fetches the object instead.
          p.kind = ApplyKind::RequestSync;
        } else {
          p.kind = ApplyKind::Upsert;
          p.row = std::move(change->row);
          p.raw = std::move(change->raw_tokens);
        }
        break;
      }
      case MirrorOp::Delete: p.kind = ApplyKind::MarkGone; break;
      case MirrorOp::Archive: p.kind = ApplyKind::MarkArchived; break;
    }
  } catch (const PlaneError& e) {
    p.dead = std::string("payload cannot be applied: ") + e.what();
  }
  return p;
}

// The rows move into the groups (a row holds its whole object): give_back returns them.
std::vector<ApplyGroup> group(const std::vector<Prepared*>& events) {
  std::map<std::tuple<std::string, MirrorTable, ApplyKind>, ApplyGroup> groups;
  for (Prepared* e : events) {
    ApplyGroup& g = groups[std::make_tuple(e->slug, e->table, *e->kind)];
    g.slug = e->slug;
    g.table = e->table;
    g.kind = *e->kind;
    if (g.kind == ApplyKind::Upsert) {
      g.rows.push_back(std::move(e->row));
      g.raws.push_back(std::move(e->raw));
    }
    if (g.kind == ApplyKind::MarkGone || g.kind == ApplyKind::MarkArchived) g.plane_ids.push_back(e->plane_id);
    g.event_ids.push_back(e->id);
  }
  std::vector<ApplyGroup> out;
  out.reserve(groups.size());
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  return out;
}

// Returns the rows group() moved into `groups` to their events.
void give_back(std::vector<ApplyGroup>& groups, const std::vector<Prepared*>& events) {
  std::map<long long, Prepared*> by_id;
  for (Prepared* e : events) by_id[e->id] = e;
  for (auto& g : groups) {
    if (g.kind != ApplyKind::Upsert) continue;
    for (std::size_t i = 0; i < g.rows.size(); ++i) {
      by_id[g.event_ids[i]]->row = std::move(g.rows[i]);
      by_id[g.event_ids[i]]->raw = std::move(g.raws[i]);
    }
  }
}

}  // namespace

int QueueEngine::apply(std::vector<QueuedEvent> events, ClaimMode mode) {
  const std::int64_t now = store_.now_us();
  std::vector<Prepared> prepared;
  prepared.reserve(events.size());
  for (auto& e : events) prepared.push_back(prepare(e, mode, config_, zones_, now));

  std::vector<long long> done;
  std::vector<Prepared*> to_apply;
  std::vector<std::pair<const Prepared*, std::string>> failed;
  for (auto& p : prepared) {
    if (!p.dead.empty()) continue;
    if (p.kind) {
      to_apply.push_back(&p);
    } else {
      done.push_back(p.id);  // nothing to apply
    }
  }
  std::string error;
  std::vector<ApplyGroup> groups = group(to_apply);
  if (to_apply.empty() || store_.apply(groups, error)) {
    for (const Prepared* p : to_apply) done.push_back(p->id);
  } else {
    // One event spoils the batch: each is applied on its own, to fail alone.
    give_back(groups, to_apply);
    for (Prepared* p : to_apply) {
      std::string one_error;
      if (store_.apply(group({p}), one_error)) {
        done.push_back(p->id);
      } else {
        failed.emplace_back(p, one_error);
      }
    }
  }

  const bool counted = mode == ClaimMode::Leased;
  if (counted && !done.empty()) store_.mark_done(done);
  for (const auto& [p, message] : failed) {
    const int attempts = counted ? p->attempts : p->attempts + 1;
    store_.mark_failed(p->id, message, attempts >= config_.max_attempts, retry_delay_s(attempts), !counted);
  }
  for (const auto& p : prepared) {
    if (!p.dead.empty()) store_.mark_failed(p.id, p.dead, true, 0, !counted);
  }
  std::sort(done.begin(), done.end());
  std::map<std::string, long> applied_per_slug;
  for (const auto& p : prepared) {
    if (std::binary_search(done.begin(), done.end(), p.id)) ++applied_per_slug[p.slug];
  }
  for (const auto& [slug, n] : applied_per_slug) store_.count_applied(slug, n);
  return static_cast<int>(done.size());
}

}  // namespace plane
