// Unit tests for src/core/queue_engine: what each queued event does, grouping, retries and dead
// letters (also of an event that killed the worker), and the order of claims after a start.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/queue_engine.hpp"
#include "core/timestamp.hpp"

namespace {

using nlohmann::json;
using plane::ApplyGroup;
using plane::ApplyKind;
using plane::ClaimMode;
using plane::QueuedEvent;

const std::int64_t kNowUs = *plane::parse_timestamp_micros("2026-03-01T12:00:00Z");

struct Failed {
  std::string error;
  bool dead;
  std::int64_t retry_in_s;
  bool count_attempt;
};

class FakeStore : public plane::QueueStore {
 public:
  std::vector<std::vector<ApplyGroup>> applies;  // every call, successful or not
  std::set<std::string> poison_ids;              // a group holding one of these fails
  std::vector<long long> done;
  std::map<long long, Failed> failed;
  std::map<std::string, long> applied;

  bool apply(const std::vector<ApplyGroup>& groups, std::string& error) override {
    // Kept with each row's raw inside, whichever way it came.
    std::vector<ApplyGroup> seen = groups;
    for (auto& g : seen) {
      for (std::size_t i = 0; i < g.raws.size(); ++i) {
        if (!g.raws[i].empty()) g.rows[i]["raw"] = plane::json_from_tokens(g.raws[i].data(), g.raws[i].size(), 256);
      }
    }
    applies.push_back(std::move(seen));
    for (const auto& g : groups) {
      for (const auto& id : g.plane_ids) {
        if (poison_ids.count(id)) return (error = "constraint violated", false);
      }
      for (const auto& row : g.rows) {
        if (poison_ids.count(row.value("plane_id", ""))) return (error = "constraint violated", false);
      }
    }
    return true;
  }
  void mark_done(const std::vector<long long>& ids) override { done.insert(done.end(), ids.begin(), ids.end()); }
  void mark_failed(long long id, const std::string& error, bool dead, std::int64_t retry_in_s,
                   bool count_attempt) override {
    failed[id] = Failed{error, dead, retry_in_s, count_attempt};
  }
  void count_applied(const std::string& slug, long events) override { applied[slug] += events; }
  std::int64_t now_us() override { return kNowUs; }
};

json v2_update(const std::string& id, const std::string& updated_at) {
  return {{"version", "v2"},       {"event", "workitem.updated"}, {"event_id", "e-" + id},
          {"entity_id", id},       {"entity_type", "workitem"},
          {"data", {{"id", id}, {"name", "item " + id}, {"project_id", "p1"}, {"state_id", "s1"},
                    {"updated_at", updated_at}, {"label_ids", json::array()}}}};
}

json v2_removal(const std::string& id, const std::string& action) {
  return {{"version", "v2"},  {"event", "workitem." + action}, {"event_id", "e-" + action + id},
          {"entity_id", id},  {"entity_type", "workitem"},     {"data", json::object()},
          {"previous_attributes", {{"id", id}, {"project_id", "p1"}}}};
}

QueuedEvent event(long long id, json payload, int attempts = 1, const std::string& slug = "acme") {
  return QueuedEvent{id, slug, attempts, plane::json_to_tokens(payload)};
}

plane::QueueConfig config(int max_attempts = 3) {
  plane::QueueConfig c;
  c.max_attempts = max_attempts;
  return c;
}

TEST(QueueEngine, GroupsUpsertsAndMarksPerWorkspaceAndKind) {
  FakeStore store;
  plane::QueueEngine engine(store, config());
  const int applied = engine.apply({event(1, v2_update("a", "2026-03-01T10:00:00Z")),
                                    event(2, v2_update("b", "2026-03-01T10:00:00Z")),
                                    event(3, v2_removal("c", "deleted")),
                                    event(4, v2_removal("d", "archived")),
                                    event(5, v2_update("e", "2026-03-01T10:00:00Z"), 1, "globex")},
                                   ClaimMode::Leased);
  EXPECT_EQ(applied, 5);
  ASSERT_EQ(store.applies.size(), 1u);  // all together, set-based
  std::map<std::pair<std::string, ApplyKind>, const ApplyGroup*> by;
  for (const auto& g : store.applies[0]) by[{g.slug, g.kind}] = &g;
  ASSERT_EQ(by.size(), 4u);
  const ApplyGroup* upserts = by.at({"acme", ApplyKind::Upsert});
  EXPECT_EQ(upserts->rows.size(), 2u);
  EXPECT_EQ(upserts->event_ids, (std::vector<long long>{1, 2}));
  EXPECT_EQ(by.at({"acme", ApplyKind::MarkGone})->plane_ids, (std::vector<std::string>{"c"}));
  EXPECT_EQ(by.at({"acme", ApplyKind::MarkArchived})->plane_ids, (std::vector<std::string>{"d"}));
  EXPECT_EQ(by.at({"globex", ApplyKind::Upsert})->rows.size(), 1u);
  EXPECT_EQ(store.done, (std::vector<long long>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(store.failed.empty());
  EXPECT_EQ(store.applied["acme"], 4);
  EXPECT_EQ(store.applied["globex"], 1);
}

TEST(QueueEngine, RowsAreInTheRestShapeWhateverTheDelivery) {
  FakeStore store;
  plane::QueueEngine engine(store, config());
  json cloud = v2_update("a", "2026-03-01T10:00:00.000001+00:00");
  cloud["data"]["parent_id"] = "None";
  cloud["data"]["assignee_ids"] = {"u1"};
  engine.apply({event(1, cloud)}, ClaimMode::Leased);
  const json& row = store.applies.at(0).at(0).rows.at(0);
  EXPECT_EQ(row["state_plane_id"], "s1");
  EXPECT_EQ(row["assignee_ids"], json::array({"u1"}));
  EXPECT_TRUE(row["parent_plane_id"].is_null());
  const json& raw = row["raw"];
  EXPECT_EQ(raw["state"], "s1");
  EXPECT_EQ(raw["project"], "p1");
  EXPECT_EQ(raw["assignees"], json::array({"u1"}));
  EXPECT_TRUE(raw["parent"].is_null());
  EXPECT_FALSE(raw.contains("state_id"));
  EXPECT_FALSE(raw.contains("parent_id"));
  EXPECT_EQ(raw["updated_at"], "2026-03-01T10:00:00.000001Z");
}

TEST(QueueEngine, WithoutUpdatedAtOrFromTheFutureTheSyncFetchesTheObject) {
  FakeStore store;
  plane::QueueEngine engine(store, config());
  json partial = v2_update("a", "2026-03-01T10:00:00Z");
  partial["data"].erase("updated_at");
  engine.apply({event(1, partial), event(2, v2_update("b", "2099-01-01T00:00:00Z")),
                event(3, v2_update("c", "2026-03-01T12:04:00Z"))},  // within the 5 minutes of skew
               ClaimMode::Leased);
  std::map<ApplyKind, const ApplyGroup*> by;
  for (const auto& g : store.applies.at(0)) by[g.kind] = &g;
  ASSERT_TRUE(by.count(ApplyKind::RequestSync));
  EXPECT_EQ(by[ApplyKind::RequestSync]->event_ids, (std::vector<long long>{1, 2}));
  ASSERT_TRUE(by.count(ApplyKind::Upsert));
  EXPECT_EQ(by[ApplyKind::Upsert]->rows.size(), 1u);
  EXPECT_EQ(by[ApplyKind::Upsert]->rows[0]["plane_id"], "c");
}

TEST(QueueEngine, OneBadEventIsRetriedAloneAndTheOthersApplied) {
  FakeStore store;
  store.poison_ids = {"b"};
  plane::QueueEngine engine(store, config(3));
  const int applied = engine.apply({event(1, v2_update("a", "2026-03-01T10:00:00Z"), 1),
                                    event(2, v2_update("b", "2026-03-01T10:00:00Z"), 1),
                                    event(3, v2_update("c", "2026-03-01T10:00:00Z"), 1)},
                                   ClaimMode::Leased);
  EXPECT_EQ(applied, 2);
  EXPECT_EQ(store.applies.size(), 4u);  // the batch, then one by one
  EXPECT_EQ(store.done, (std::vector<long long>{1, 3}));
  ASSERT_TRUE(store.failed.count(2));
  EXPECT_FALSE(store.failed[2].dead);                 // attempt 1 of 3
  EXPECT_EQ(store.failed[2].retry_in_s, plane::retry_delay_s(1));
  EXPECT_FALSE(store.failed[2].count_attempt);        // the lease counted it
  EXPECT_EQ(store.failed[2].error, "constraint violated");
  EXPECT_EQ(store.applied["acme"], 2);
}

TEST(QueueEngine, TheLastAttemptDeadLetters) {
  FakeStore leased;
  leased.poison_ids = {"b"};
  plane::QueueEngine a(leased, config(3));
  a.apply({event(2, v2_update("b", "2026-03-01T10:00:00Z"), 3)}, ClaimMode::Leased);
  EXPECT_TRUE(leased.failed.at(2).dead);

  // Claimed marked done: the claim counted nothing, the mark counts this attempt.
  FakeStore marked;
  marked.poison_ids = {"b"};
  plane::QueueEngine b(marked, config(3));
  b.apply({event(2, v2_update("b", "2026-03-01T10:00:00Z"), 1)}, ClaimMode::MarkedDone);
  EXPECT_FALSE(marked.failed.at(2).dead);
  EXPECT_TRUE(marked.failed.at(2).count_attempt);
  EXPECT_TRUE(marked.done.empty());  // the claim marked the others done already
  b.apply({event(2, v2_update("b", "2026-03-01T10:00:00Z"), 2)}, ClaimMode::MarkedDone);
  EXPECT_TRUE(marked.failed.at(2).dead);
}

TEST(QueueEngine, AnEventThatKilledTheWorkerEveryTimeIsDeadLetteredWhenClaimed) {
  // Each leased claim counted an attempt; the worker died before marking any: attempts exceed
  // the limit, and the event is dead-lettered without being applied again.
  FakeStore store;
  plane::QueueEngine engine(store, config(3));
  const int applied = engine.apply({event(7, v2_update("crash", "2026-03-01T10:00:00Z"), 4)}, ClaimMode::Leased);
  EXPECT_EQ(applied, 0);
  EXPECT_TRUE(store.applies.empty());
  ASSERT_TRUE(store.failed.count(7));
  EXPECT_TRUE(store.failed[7].dead);
  EXPECT_NE(store.failed[7].error.find("stopped while applying"), std::string::npos);
  // Its third attempt still runs.
  FakeStore again;
  plane::QueueEngine e2(again, config(3));
  EXPECT_EQ(e2.apply({event(7, v2_update("crash", "2026-03-01T10:00:00Z"), 3)}, ClaimMode::Leased), 1);
}

TEST(QueueEngine, UnreadablePayloadsAreDeadAtOnceAndUnknownEventsAreDone) {
  FakeStore store;
  plane::QueueEngine engine(store, config(8));
  json no_id = v2_update("a", "2026-03-01T10:00:00Z");
  no_id.erase("entity_id");
  no_id["data"].erase("id");
  json comment = {{"version", "v2"}, {"event", "workitem.comment.created"}, {"event_id", "c"},
                  {"entity_type", "issue"}, {"data", {{"id", "x"}}}};
  const int applied = engine.apply({event(1, nullptr), event(2, no_id), event(3, comment)}, ClaimMode::Leased);
  EXPECT_EQ(applied, 1);
  EXPECT_TRUE(store.failed.at(1).dead);
  EXPECT_TRUE(store.failed.at(2).dead);
  EXPECT_NE(store.failed.at(2).error.find("cannot be applied"), std::string::npos);
  EXPECT_EQ(store.done, (std::vector<long long>{3}));
}

TEST(QueueEngine, RetryDelayGrowsExponentiallyAndIsCapped) {
  EXPECT_EQ(plane::retry_delay_s(0), 1);
  EXPECT_EQ(plane::retry_delay_s(1), 3);
  EXPECT_EQ(plane::retry_delay_s(2), 8);
  EXPECT_EQ(plane::retry_delay_s(10), plane::retry_delay_s(40));
  EXPECT_EQ(plane::retry_delay_s(10), 22027);
}

TEST(QueueEngine, MarkedDoneClaimsMarkNothingDoneAgainButCountTheApplied) {
  FakeStore store;
  store.poison_ids = {"b"};
  plane::QueueEngine engine(store, config(3));
  const int applied = engine.apply({event(1, v2_update("a", "2026-03-01T10:00:00Z"), 0),
                                    event(2, v2_update("b", "2026-03-01T10:00:00Z"), 0),
                                    event(3, nullptr, 0)},
                                   ClaimMode::MarkedDone);
  EXPECT_EQ(applied, 1);
  EXPECT_TRUE(store.done.empty());  // the claim marked them done in this transaction
  EXPECT_EQ(store.applied["acme"], 1);
  ASSERT_TRUE(store.failed.count(2));
  EXPECT_TRUE(store.failed[2].count_attempt);
  EXPECT_EQ(store.failed[2].retry_in_s, plane::retry_delay_s(1));  // this was attempt 1
  ASSERT_TRUE(store.failed.count(3));
  EXPECT_TRUE(store.failed[3].dead);
  EXPECT_TRUE(store.failed[3].count_attempt);
}

TEST(QueueEngine, OnlyLeasedClaimsTakeManyAttemptsForAWorkerThatDied) {
  // A marked-done claim counts no attempt: attempts beyond the limit there say nothing about a
  // crash, and the event is applied.
  FakeStore store;
  plane::QueueEngine engine(store, config(3));
  EXPECT_EQ(engine.apply({event(7, v2_update("x", "2026-03-01T10:00:00Z"), 9)}, ClaimMode::MarkedDone), 1);
  EXPECT_TRUE(store.failed.empty());
  EXPECT_EQ(store.applies.size(), 1u);
}

TEST(QueueEngine, AnArchiveWithItsCurrentObjectIsAnUpsertAndAProjectDeleteMarksTheProject) {
  FakeStore store;
  plane::QueueEngine engine(store, config());
  json archived = v2_update("a", "2026-03-01T10:00:00Z");
  archived["event"] = "workitem.archived";
  archived["data"]["archived_at"] = "2026-03-01";
  const json project_deleted = {{"version", "v2"},      {"event", "project.deleted"}, {"event_id", "pd"},
                                {"entity_id", "p9"},    {"entity_type", "project"},   {"data", json::object()},
                                {"previous_attributes", {{"id", "p9"}, {"name", "old"}}}};
  engine.apply({event(1, archived), event(2, project_deleted)}, ClaimMode::Leased);
  std::map<ApplyKind, const ApplyGroup*> by;
  for (const auto& g : store.applies.at(0)) by[g.kind] = &g;
  ASSERT_TRUE(by.count(ApplyKind::Upsert));
  EXPECT_EQ(by[ApplyKind::Upsert]->table, plane::MirrorTable::Items);
  EXPECT_EQ(by[ApplyKind::Upsert]->rows.at(0)["archived_at"], "2026-03-01T00:00:00.000000Z");
  ASSERT_TRUE(by.count(ApplyKind::MarkGone));
  EXPECT_EQ(by[ApplyKind::MarkGone]->table, plane::MirrorTable::Projects);
  EXPECT_EQ(by[ApplyKind::MarkGone]->plane_ids, (std::vector<std::string>{"p9"}));
  EXPECT_FALSE(by.count(ApplyKind::MarkArchived));
}

TEST(QueueEngine, TheFutureSkewLimitIsInclusive) {
  FakeStore store;
  plane::QueueEngine engine(store, config());
  const std::string at_limit = plane::format_timestamp_utc(kNowUs + 5LL * 60 * 1000 * 1000);
  const std::string past_limit = plane::format_timestamp_utc(kNowUs + 5LL * 60 * 1000 * 1000 + 1);
  engine.apply({event(1, v2_update("a", at_limit)), event(2, v2_update("b", past_limit))}, ClaimMode::Leased);
  std::map<ApplyKind, const ApplyGroup*> by;
  for (const auto& g : store.applies.at(0)) by[g.kind] = &g;
  ASSERT_TRUE(by.count(ApplyKind::Upsert));
  EXPECT_EQ(by[ApplyKind::Upsert]->event_ids, (std::vector<long long>{1}));
  ASSERT_TRUE(by.count(ApplyKind::RequestSync));
  EXPECT_EQ(by[ApplyKind::RequestSync]->event_ids, (std::vector<long long>{2}));
}

TEST(QueueEngine, AnEmptyBatchOrOneWithNothingToApplyWritesNothing) {
  FakeStore store;
  plane::QueueEngine engine(store, config());
  EXPECT_EQ(engine.apply({}, ClaimMode::Leased), 0);
  EXPECT_TRUE(store.applies.empty());
  EXPECT_TRUE(store.done.empty());
  EXPECT_TRUE(store.applied.empty());
  const json comment = {{"version", "v2"}, {"event", "workitem.comment.created"}, {"event_id", "c"},
                        {"entity_type", "issue"}, {"data", {{"id", "x"}}}};
  EXPECT_EQ(engine.apply({event(4, comment)}, ClaimMode::Leased), 1);
  EXPECT_TRUE(store.applies.empty());  // nothing for the mirror
  EXPECT_EQ(store.done, (std::vector<long long>{4}));
}

TEST(QueueEngine, TheAppliedCountOfEachWorkspaceLeavesOutItsFailures) {
  FakeStore store;
  store.poison_ids = {"b"};
  plane::QueueEngine engine(store, config(3));
  engine.apply({event(1, v2_update("a", "2026-03-01T10:00:00Z"), 1, "acme"),
                event(2, v2_update("b", "2026-03-01T10:00:00Z"), 1, "globex"),
                event(3, v2_update("c", "2026-03-01T10:00:00Z"), 1, "globex")},
               ClaimMode::Leased);
  EXPECT_EQ(store.applied["acme"], 1);
  EXPECT_EQ(store.applied["globex"], 1);
  EXPECT_EQ(store.done, (std::vector<long long>{1, 3}));
}

TEST(DrainPolicy, SuspectsOneByOneThenALeaseThenMarkedDoneBatches) {
  plane::DrainPolicy policy(500);
  plane::ClaimRequest r = policy.next();
  EXPECT_TRUE(r.suspects);
  EXPECT_EQ(r.limit, 1);
  EXPECT_EQ(r.mode, ClaimMode::Leased);
  policy.claimed(r, 1);  // a suspect: more may follow
  EXPECT_TRUE(policy.next().suspects);
  policy.claimed(policy.next(), 0);  // none left
  r = policy.next();
  EXPECT_FALSE(r.suspects);
  EXPECT_EQ(r.limit, 500);
  EXPECT_EQ(r.mode, ClaimMode::Leased);
  policy.claimed(r, 0);  // nothing ready: still lease the next batch
  EXPECT_EQ(policy.next().mode, ClaimMode::Leased);
  policy.claimed(policy.next(), 12);
  EXPECT_EQ(policy.next().mode, ClaimMode::MarkedDone);
  policy.failed();
  EXPECT_EQ(policy.next().mode, ClaimMode::Leased);
  EXPECT_FALSE(policy.next().suspects);
}

TEST(DrainPolicy, ABatchSizeBelowOneIsOneAndOnlyALeasedClaimWithRowsEndsLeasing) {
  plane::DrainPolicy policy(0);
  policy.claimed(policy.next(), 0);  // no suspects
  plane::ClaimRequest r = policy.next();
  EXPECT_EQ(r.limit, 1);
  EXPECT_EQ(r.mode, ClaimMode::Leased);
  policy.claimed({5, ClaimMode::MarkedDone, false}, 5);  // not a leased claim: changes nothing
  EXPECT_EQ(policy.next().mode, ClaimMode::Leased);
  policy.claimed(policy.next(), 1);
  EXPECT_EQ(policy.next().mode, ClaimMode::MarkedDone);
  policy.claimed(policy.next(), 0);  // an empty marked-done claim: still marked done
  EXPECT_EQ(policy.next().mode, ClaimMode::MarkedDone);
  EXPECT_FALSE(policy.next().suspects);  // suspects only after a start
}

}  // namespace
