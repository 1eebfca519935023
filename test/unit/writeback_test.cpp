// Unit tests for src/core/writeback: what Plane silently trims (dropped_values), optimistic locking
// on updated_at, when a 404 means gone (both route families, and the project still there), the
// route switch, and the WritebackEngine's statuses, audit actions, retries and rethrows against a
// fake store. Plane is a small fake of the work item routes on a virtual clock.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/plane_client.hpp"
#include "core/writeback.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakeTransport;
using fakes::FakeWaiter;
using nlohmann::json;
using plane::ChangeStatus;
using plane::ErrorKind;
using plane::PlaneError;
using plane::WritebackOutcome;
using plane::WritebackRequest;

const std::string kPrefix = "https://api.plane.so/api/v1/workspaces/acme/";
const char* const kBase = "2026-03-01T10:00:00Z";
const char* const kNewVersion = "2026-03-02T09:00:00.000000Z";

// ------------------------------------------------------------------------- dropped_values

TEST(DroppedValues, NamesTheIdsSentButAbsentFromPlanesAnswer) {
  const json body = {{"name", "x"}, {"assignees", {"u1", "u2", "u3"}}, {"labels", {"l1", "l2"}}};
  const json answer = {{"assignees", {"u1", "u3"}}, {"labels", {"l1"}}};
  EXPECT_EQ(plane::dropped_values(body, answer), (json{{"assignees", {"u2"}}, {"labels", {"l2"}}}));
}

TEST(DroppedValues, NothingDroppedIsAnEmptyObject) {
  EXPECT_EQ(plane::dropped_values({{"assignees", {"u1"}}}, {{"assignees", {"u1", "u9"}}}), json::object());
  EXPECT_EQ(plane::dropped_values({{"assignees", json::array()}}, {{"assignees", json::array()}}), json::object());
  EXPECT_EQ(plane::dropped_values({{"name", "only a name"}}, {{"name", "only a name"}}), json::object());
  // Expanded answers ({"id": …}) count as kept.
  EXPECT_EQ(plane::dropped_values({{"labels", {"l1"}}}, {{"labels", {{{"id", "l1"}, {"name", "bug"}}}}}),
            json::object());
}

TEST(DroppedValues, AnAnswerWithoutTheFieldDroppedEverythingSent) {
  EXPECT_EQ(plane::dropped_values({{"labels", {"l1", "l2"}}}, {{"name", "x"}}),
            (json{{"labels", {"l1", "l2"}}}));
  EXPECT_EQ(plane::dropped_values({{"assignees", {"u1"}}}, {{"assignees", "None"}}),
            (json{{"assignees", {"u1"}}}));
}

// ------------------------------------------------------------------------- a fake Plane

// Work items of project p1 under work-items/ (unless the server predates it) and its issues/
// alias; Plane's serializer keeps only assignees who are members and labels of the project.
struct FakeItems {
  std::map<std::string, json> items;
  bool work_items_route = true;
  long project_status = 200;  // GET projects/p1/
  std::set<std::string> members = {"u1"};
  std::set<std::string> project_labels = {"l1"};
  // Answers instead when it returns a response (a fault).
  std::function<std::optional<plane::HttpResponse>(const plane::HttpRequest&, const std::string& path)> before;
  std::vector<std::string> log;  // "GET projects/p1/work-items/i1/"
  std::vector<json> bodies;      // of PATCH and POST, in order

  FakeItems() {
    items["i1"] = {{"id", "i1"},          {"project", "p1"},       {"name", "old"},
                   {"state", "s1"},       {"priority", "none"},    {"assignees", json::array()},
                   {"labels", json::array()}, {"updated_at", "2026-03-01T15:30:00+05:30"}};  // = kBase
  }

  plane::HttpResponse operator()(const plane::HttpRequest& r) {
    std::string path = fakes::parse_url(r.url, kPrefix).path;
    log.push_back(r.method + " " + path);
    if (before) {
      if (auto answer = before(r, path)) return *answer;
    }
    if (path == "projects/p1/") {
      return project_status == 200 ? fakes::response(200, R"({"id": "p1", "name": "P1"})")
                                   : fakes::response(project_status, R"({"detail": "no project"})");
    }
    if (path.rfind("projects/p1/work-items/", 0) == 0 && !work_items_route) {
      return fakes::response(404, R"({"error": "Page not found."})");
    }
    for (const char* alias : {"projects/p1/issues/"}) {
      if (path.rfind(alias, 0) == 0) path = "projects/p1/work-items/" + path.substr(std::string(alias).size());
    }
    const std::string base = "projects/p1/work-items/";
    if (path.rfind(base, 0) != 0) return fakes::response(404, R"({"detail": "Not found."})");
    const std::string id = path.size() > base.size() ? path.substr(base.size(), path.size() - base.size() - 1) : "";
    if (id.empty() && r.method == "POST") {
      json item = {{"id", "new1"}, {"project", "p1"}, {"assignees", json::array()}, {"labels", json::array()}};
      return write(item, r);
    }
    auto it = items.find(id);
    if (it == items.end()) return fakes::response(404, R"({"detail": "No Issue matches the given query."})");
    if (r.method == "GET") return fakes::response(200, it->second.dump());
    if (r.method == "PATCH") return write(it->second, r);
    return fakes::response(405, R"({"detail": "Method not allowed."})");
  }

 private:
  plane::HttpResponse write(json& item, const plane::HttpRequest& r) {
    const json body = json::parse(r.body);
    bodies.push_back(body);
    for (const auto& [key, value] : body.items()) {
      if (key == "assignees" || key == "labels") {
        const std::set<std::string>& allowed = key == "assignees" ? members : project_labels;
        json kept = json::array();
        for (const auto& v : value) {
          if (allowed.count(v.get<std::string>())) kept.push_back(v);
        }
        item[key] = kept;
      } else {
        item[key] = value;
      }
    }
    item["updated_at"] = "2026-03-02T14:30:00+05:30";  // = kNewVersion
    items[item["id"].get<std::string>()] = item;
    return fakes::response(r.method == "POST" ? 201 : 200, item.dump());
  }
};

class WritebackTest : public ::testing::Test {
 protected:
  WritebackTest() : transport(&waiter), budget(0, 60000) {
    transport.handler = [this](const plane::HttpRequest& r) { return plane(r); };
    config.api_url = "https://api.plane.so";
    config.workspace_slug = "acme";
    config.max_attempts = 2;
  }
  plane::PlaneClient& client() {
    if (!client_) client_.emplace(config, transport, budget, credentials, waiter);
    return *client_;
  }
  static WritebackRequest update(json patch, std::optional<std::string> base = std::string(kBase),
                                 long long id = 1, int attempts = 0) {
    WritebackRequest r;
    r.id = id;
    r.attempts = attempts;
    r.op = "update";
    r.plane_id = "i1";
    r.project_id = "p1";
    r.patch = std::move(patch);
    r.base_updated_at = std::move(base);
    return r;
  }

  FakeItems plane;
  plane::PlaneClientConfig config;
  FakeWaiter waiter;
  FakeTransport transport;
  plane::LocalRequestBudget budget;
  fakes::FakeCredentials credentials;

 private:
  std::optional<plane::PlaneClient> client_;
};

using Log = std::vector<std::string>;

// ------------------------------------------------------------------------- apply_writeback

TEST_F(WritebackTest, AnUnchangedItemIsPatchedAndApplied) {
  const plane::WritebackResult r =
      plane::apply_writeback(client(), update({{"name", "new"}, {"state_plane_id", "s2"}}));
  EXPECT_EQ(r.outcome, WritebackOutcome::Applied);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.object["name"], "new");
  EXPECT_EQ(r.plane_updated_at, kNewVersion);
  EXPECT_EQ(r.dropped, json::object());
  EXPECT_EQ(plane.log, (Log{"GET projects/p1/work-items/i1/", "PATCH projects/p1/work-items/i1/"}));
  ASSERT_EQ(plane.bodies.size(), 1u);
  EXPECT_EQ(plane.bodies[0], (json{{"name", "new"}, {"state", "s2"}}));  // Plane's field names
}

TEST_F(WritebackTest, TheSameInstantInAnotherOffsetIsNoConflict) {
  // The base was read as UTC, Plane renders the key owner's zone: versions compare as instants.
  EXPECT_EQ(plane::apply_writeback(client(), update({{"name", "n"}}, std::string("2026-03-01T10:00:00.000000Z"))).outcome,
            WritebackOutcome::Applied);
  plane.items["i1"]["updated_at"] = "2026-03-01T15:30:00+05:30";
  EXPECT_EQ(plane::apply_writeback(client(), update({{"name", "m"}}, std::nullopt)).outcome,
            WritebackOutcome::Applied);  // no base: nothing to compare
}

TEST_F(WritebackTest, AnAnswerMissingAssigneesOrLabelsSentIsPartial) {
  const plane::WritebackResult r = plane::apply_writeback(
      client(), update({{"assignee_ids", {"u1", "u2"}}, {"label_ids", {"l1", "l9"}}}));
  EXPECT_EQ(r.outcome, WritebackOutcome::Partial);
  EXPECT_EQ(r.dropped, (json{{"assignees", {"u2"}}, {"labels", {"l9"}}}));
  EXPECT_EQ(r.object["assignees"], json::array({"u1"}));
  EXPECT_EQ(r.plane_updated_at, kNewVersion);
}

TEST_F(WritebackTest, AChangedItemIsAConflictAndPlaneIsLeftAlone) {
  plane.items["i1"]["updated_at"] = "2026-03-01T10:00:01Z";
  const plane::WritebackResult r = plane::apply_writeback(client(), update({{"name", "new"}}));
  EXPECT_EQ(r.outcome, WritebackOutcome::Conflict);
  EXPECT_EQ(r.object["name"], "old");  // Plane's current object
  EXPECT_EQ(r.plane_updated_at, "2026-03-01T10:00:01.000000Z");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(plane.log, (Log{"GET projects/p1/work-items/i1/"}));  // nothing written
  // A version Plane renders unreadably cannot be proved unchanged either.
  plane.items["i1"]["updated_at"] = "yesterday";
  EXPECT_EQ(plane::apply_writeback(client(), update({{"name", "new"}})).outcome, WritebackOutcome::Conflict);
}

TEST_F(WritebackTest, GoneOnlyAfterBothRoutesAnd404AndTheProjectStillAnswering) {
  plane.items.erase("i1");
  const plane::WritebackResult r = plane::apply_writeback(client(), update({{"name", "new"}}));
  EXPECT_EQ(r.outcome, WritebackOutcome::Gone);
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(plane.log, (Log{"GET projects/p1/work-items/i1/", "GET projects/p1/issues/i1/", "GET projects/p1/"}));
  EXPECT_EQ(client().work_items_segment(), "work-items");  // the alias found nothing: no switch
  // A project gone takes its work items along.
  plane.project_status = 404;
  EXPECT_EQ(plane::apply_writeback(client(), update({{"name", "new"}})).outcome, WritebackOutcome::Gone);
}

TEST_F(WritebackTest, AProjectTheKeyCannotReadProvesNothing) {
  plane.items.erase("i1");
  plane.project_status = 403;
  PlaneError e = fakes::expect_error([&] { plane::apply_writeback(client(), update({{"name", "new"}})); },
                                     ErrorKind::Forbidden);
  EXPECT_EQ(e.http_status(), 403);
  plane.project_status = 500;
  fakes::expect_error([&] { plane::apply_writeback(client(), update({{"name", "new"}})); },
                      ErrorKind::ServerError);
}

TEST_F(WritebackTest, A404OnWorkItemsWithIssuesAnsweringSwitchesTheClientAndApplies) {
  plane.work_items_route = false;  // Community Edition before v1.1.0
  const plane::WritebackResult r = plane::apply_writeback(client(), update({{"name", "new"}}));
  EXPECT_EQ(r.outcome, WritebackOutcome::Applied);
  EXPECT_EQ(plane.log, (Log{"GET projects/p1/work-items/i1/", "GET projects/p1/issues/i1/",
                            "PATCH projects/p1/issues/i1/"}));
  EXPECT_EQ(client().work_items_segment(), "issues");
  // The next change goes straight to issues/.
  plane.log.clear();
  plane::apply_writeback(client(), update({{"name", "again"}}, std::string(kNewVersion)));
  EXPECT_EQ(plane.log, (Log{"GET projects/p1/issues/i1/", "PATCH projects/p1/issues/i1/"}));
}

TEST_F(WritebackTest, AClientOnIssuesTriesWorkItemsBeforeCallingAnItemGone) {
  client().use_work_items_segment("issues");
  plane.before = [](const plane::HttpRequest&, const std::string& path) -> std::optional<plane::HttpResponse> {
    if (path.rfind("projects/p1/issues/", 0) == 0) return fakes::response(404, R"({"error": "Page not found."})");
    return std::nullopt;
  };
  EXPECT_EQ(plane::apply_writeback(client(), update({{"name", "new"}})).outcome, WritebackOutcome::Applied);
  EXPECT_EQ(client().work_items_segment(), "work-items");
  EXPECT_EQ(plane.log.back(), "PATCH projects/p1/work-items/i1/");
}

TEST_F(WritebackTest, ACreateIsPostedAndItsTrimsReported) {
  WritebackRequest r;
  r.op = "create";
  r.project_id = "p1";
  r.patch = {{"name", "new item"}, {"assignee_ids", {"u1", "u7"}}};
  const plane::WritebackResult result = plane::apply_writeback(client(), r);
  EXPECT_EQ(result.outcome, WritebackOutcome::Partial);
  EXPECT_EQ(result.http_status, 201);
  EXPECT_EQ(result.object["id"], "new1");
  EXPECT_EQ(result.dropped, (json{{"assignees", {"u7"}}}));
  EXPECT_EQ(plane.log, (Log{"POST projects/p1/work-items/"}));  // no read first
  r.patch = {{"priority", "high"}};
  fakes::expect_error([&] { plane::apply_writeback(client(), r); }, ErrorKind::Config);  // no name
  r.op = "delete";
  fakes::expect_error([&] { plane::apply_writeback(client(), r); }, ErrorKind::Config);
}

TEST(PlaneWriteBody, MirrorNamesBecomePlanesAndOnlySupportedFieldsPass) {
  EXPECT_EQ(plane::plane_write_body({{"state_plane_id", "s"}, {"label_ids", {"l"}}, {"assignee_ids", json::array()},
                                     {"start_date", nullptr}, {"target_date", "2026-02-28"}},
                                    false),
            (json{{"state", "s"}, {"labels", {"l"}}, {"assignees", json::array()}, {"start_date", nullptr},
                  {"target_date", "2026-02-28"}}));
  for (const json& bad : {json{{"priority", "critical"}}, json{{"name", ""}}, json{{"label_ids", {1}}},
                          json{{"target_date", "2026-02-30"}}, json{{"sequence_id", 3}}, json::object(),
                          json::array()}) {
    SCOPED_TRACE(bad.dump());
    fakes::expect_error([&] { plane::plane_write_body(bad, false); }, ErrorKind::Config);
  }
}

// ------------------------------------------------------------------------- WritebackEngine

class FakeStore : public plane::WritebackStore {
 public:
  plane::WritebackPolicy policy{true, "keep_local"};
  std::vector<WritebackRequest> pending;
  int loads = 0;
  int asked_limit = 0;
  std::vector<std::pair<WritebackRequest, plane::ChangeRecord>> records;

  plane::WritebackPolicy load_policy() override { return policy; }
  std::vector<WritebackRequest> load_pending(int limit) override {
    ++loads;
    asked_limit = limit;
    return pending;
  }
  void record(const WritebackRequest& change, const plane::ChangeRecord& record) override {
    records.emplace_back(change, record);
  }
  const plane::ChangeRecord& only() const {
    EXPECT_EQ(records.size(), 1u);
    return records.at(0).second;
  }
};

class WritebackEngineTest : public WritebackTest {
 protected:
  plane::WritebackSummary run(int max_attempts = 3, int batch = 100) {
    plane::WritebackEngine engine(client(), store, max_attempts, batch);
    return engine.run();
  }
  // Answers `status` to every PATCH.
  void patch_answers(long status, std::string body) {
    plane.before = [status, body](const plane::HttpRequest& r, const std::string&) -> std::optional<plane::HttpResponse> {
      if (r.method == "PATCH") return fakes::response(status, body);
      return std::nullopt;
    };
  }
  FakeStore store;
};

TEST_F(WritebackEngineTest, ADisabledPolicySendsNothingAndLeavesChangesPending) {
  store.policy.enabled = false;
  store.pending = {update({{"name", "new"}})};
  const plane::WritebackSummary s = run();
  EXPECT_TRUE(transport.sent.empty());
  EXPECT_EQ(store.loads, 0);
  EXPECT_TRUE(store.records.empty());
  EXPECT_EQ(s.applied + s.failed + s.retried, 0);
}

TEST_F(WritebackEngineTest, AnAppliedChangeRecordsPlanesAnswerAsTheMirrorRow) {
  store.pending = {update({{"name", "new"}}, std::string(kBase), 42)};
  const plane::WritebackSummary s = run(3, 25);
  EXPECT_EQ(store.asked_limit, 25);
  EXPECT_EQ(s.applied, 1);
  const plane::ChangeRecord& r = store.only();
  EXPECT_EQ(r.status, ChangeStatus::Applied);
  EXPECT_EQ(plane::change_status_name(r.status), std::string("applied"));
  EXPECT_EQ(r.action, "writeback_applied");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.plane_id, "i1");
  EXPECT_EQ(r.plane_updated_at, kNewVersion);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.mirror_row["plane_id"], "i1");
  EXPECT_EQ(r.mirror_row["name"], "new");
  EXPECT_EQ(r.mirror_row["plane_updated_at"], kNewVersion);
  EXPECT_EQ(r.details["change_id"], 42);
  EXPECT_EQ(r.details["op"], "update");
  EXPECT_EQ(r.details["patch"], (json{{"name", "new"}}));
  EXPECT_EQ(r.details["base_updated_at"], kBase);
  EXPECT_EQ(r.details["conflict_policy"], "keep_local");
  EXPECT_EQ(r.details["plane_updated_at"], kNewVersion);
}

TEST_F(WritebackEngineTest, APartialChangeNamesTheDroppedIds) {
  store.pending = {update({{"assignee_ids", {"u1", "u2"}}, {"label_ids", {"l1", "l9"}}})};
  const plane::WritebackSummary s = run();
  EXPECT_EQ(s.partial, 1);
  const plane::ChangeRecord& r = store.only();
  EXPECT_EQ(r.status, ChangeStatus::Partial);
  EXPECT_EQ(r.action, "writeback_partial");
  EXPECT_NE(r.error.find("\"u2\""), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("\"l9\""), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("\"u1\""), std::string::npos) << r.error;
  EXPECT_EQ(r.details["dropped"], (json{{"assignees", {"u2"}}, {"labels", {"l9"}}}));
  EXPECT_EQ(r.mirror_row["assignee_ids"], json::array({"u1"}));  // what Plane kept
}

TEST_F(WritebackEngineTest, AConflictKeepsOrDiscardsThePatchByPolicy) {
  plane.items["i1"]["updated_at"] = "2026-03-01T11:00:00Z";
  plane.items["i1"]["name"] = "edited in Plane";
  for (const auto& [policy, status] : {std::make_pair("keep_local", ChangeStatus::Conflict),
                                       std::make_pair("plane_wins", ChangeStatus::Discarded)}) {
    SCOPED_TRACE(policy);
    store.records.clear();
    store.policy.conflict_policy = policy;
    store.pending = {update({{"name", "local"}})};
    const plane::WritebackSummary s = run();
    EXPECT_EQ(s.conflicts, 1);
    const plane::ChangeRecord& r = store.only();
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.action, "writeback_conflict");
    EXPECT_EQ(r.plane_updated_at, "2026-03-01T11:00:00.000000Z");
    EXPECT_EQ(r.mirror_row["name"], "edited in Plane");  // the mirror takes Plane's version
    EXPECT_FALSE(r.error.empty());
  }
  EXPECT_TRUE(plane.bodies.empty());  // never written
}

TEST_F(WritebackEngineTest, AGoneItemHasNoMirrorRow) {
  plane.items.erase("i1");
  store.pending = {update({{"name", "x"}})};
  const plane::WritebackSummary s = run();
  EXPECT_EQ(s.gone, 1);
  const plane::ChangeRecord& r = store.only();
  EXPECT_EQ(r.status, ChangeStatus::Gone);
  EXPECT_EQ(r.action, "writeback_gone");
  EXPECT_EQ(r.http_status, 404);
  EXPECT_TRUE(r.mirror_row.is_null());
}

TEST_F(WritebackEngineTest, AClientErrorOrForbiddenOrBadPatchFailsAtOnce) {
  const struct {
    long status;
    const char* body;
  } answers[] = {{400, R"({"name": ["This field may not be blank."]})"}, {403, R"({"detail": "no"})"},
                 {409, R"({"error": "conflict"})"}};
  for (const auto& a : answers) {
    SCOPED_TRACE(a.status);
    store.records.clear();
    patch_answers(a.status, a.body);
    store.pending = {update({{"name", "x"}}, std::string(kBase), 1, /*attempts=*/0)};
    const plane::WritebackSummary s = run();
    EXPECT_EQ(s.failed, 1);
    EXPECT_EQ(s.retried, 0);
    const plane::ChangeRecord& r = store.only();
    EXPECT_EQ(r.status, ChangeStatus::Failed);
    EXPECT_EQ(r.action, "writeback_failed");
    EXPECT_EQ(r.http_status, a.status);
    EXPECT_NE(r.error.find(std::to_string(a.status)), std::string::npos) << r.error;
    EXPECT_EQ(r.details["error"], r.error);
  }
  store.records.clear();
  store.pending = {update({{"sequence_id", 7}})};  // not writable: refused before anything is sent
  transport.sent.clear();
  EXPECT_EQ(run().failed, 1);
  EXPECT_EQ(store.only().status, ChangeStatus::Failed);
  EXPECT_EQ(store.only().http_status, 0);
  EXPECT_TRUE(transport.sent.empty());
}

TEST_F(WritebackEngineTest, AServerErrorStaysPendingUntilMaxAttemptsThenFails) {
  patch_answers(503, "upstream down");
  for (int attempts = 0; attempts < 3; ++attempts) {
    SCOPED_TRACE(attempts);
    store.records.clear();
    store.pending = {update({{"name", "x"}}, std::string(kBase), 1, attempts)};
    const plane::WritebackSummary s = run(/*max_attempts=*/3);
    const plane::ChangeRecord& r = store.only();
    const bool last = attempts == 2;
    EXPECT_EQ(r.status, last ? ChangeStatus::Failed : ChangeStatus::Pending);
    EXPECT_EQ(r.action, last ? "writeback_failed" : "writeback_retry");
    EXPECT_EQ(r.http_status, 503);
    EXPECT_EQ(s.failed, last ? 1 : 0);
    EXPECT_EQ(s.retried, last ? 0 : 1);
  }
}

TEST_F(WritebackEngineTest, ARefusedCredentialFailsTheRunAfterRecordingTheChange) {
  store.pending = {update({{"name", "x"}}, std::string(kBase), 1), update({{"name", "y"}}, std::string(kBase), 2)};
  plane.before = [](const plane::HttpRequest&, const std::string&) -> std::optional<plane::HttpResponse> {
    return fakes::response(401, R"({"detail": "Invalid token."})");
  };
  PlaneError e = fakes::expect_error([&] { run(); }, ErrorKind::Auth);
  EXPECT_EQ(e.http_status(), 401);
  ASSERT_EQ(store.records.size(), 1u);  // the second change was not tried
  EXPECT_EQ(store.records[0].second.status, ChangeStatus::Pending);
  EXPECT_EQ(store.records[0].second.action, "writeback_retry");

  // On its last attempt the change fails, and the run still fails: the credential is at fault.
  store.records.clear();
  store.pending = {update({{"name", "x"}}, std::string(kBase), 1, 2), update({{"name", "y"}}, std::string(kBase), 2, 2)};
  fakes::expect_error([&] { run(/*max_attempts=*/3); }, ErrorKind::Auth);
  ASSERT_EQ(store.records.size(), 1u);
  EXPECT_EQ(store.records[0].second.status, ChangeStatus::Failed);
}

TEST_F(WritebackEngineTest, CancellationIsRethrownWithoutRecordingTheChange) {
  store.pending = {update({{"name", "x"}})};
  waiter.cancel = true;
  fakes::expect_error([&] { run(); }, ErrorKind::Cancelled);
  EXPECT_TRUE(store.records.empty());
  EXPECT_TRUE(transport.sent.empty());
}

TEST_F(WritebackEngineTest, ACreateRecordsTheNewId) {
  WritebackRequest r;
  r.id = 9;
  r.op = "create";
  r.project_id = "p1";
  r.patch = {{"name", "fresh"}};
  store.pending = {r};
  EXPECT_EQ(run().applied, 1);
  EXPECT_EQ(store.only().plane_id, "new1");
  EXPECT_EQ(store.only().details["object"], "new1");
  EXPECT_EQ(store.only().http_status, 201);
  EXPECT_EQ(store.only().mirror_row["project_plane_id"], "p1");
}

}  // namespace
