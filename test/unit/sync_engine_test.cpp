// Unit tests for src/core/sync_engine: one sync of a workspace against a fake Plane that pages like
// the real one (offset cursors, next_cursor always set, stop on next_page_results; plane-api.md §1),
// recorded by a fake MirrorSink.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/plane_client.hpp"
#include "core/sync_engine.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakePlane;
using fakes::FakeTransport;
using fakes::FakeWaiter;
using nlohmann::json;
using plane::MirrorTable;
using plane::SyncProgress;

const std::string kPrefix = "https://api.plane.so/api/v1/workspaces/acme/";

struct Applied {
  MirrorTable table;
  json rows;
  std::string resource;
  std::string next_cursor;
  SyncProgress progress;
};

class FakeSink : public plane::MirrorSink {
 public:
  std::map<std::string, std::string> cursors;  // what the real sink keeps in events_cursor
  std::vector<Applied> applied;
  std::vector<std::string> loads;
  int fail_after_pages = -1;  // throw from the n-th apply_page (simulates a crash mid-scan)

  std::string load_cursor(const std::string& resource) override {
    loads.push_back(resource);
    auto it = cursors.find(resource);
    return it == cursors.end() ? "" : it->second;
  }
  void apply_page(MirrorTable table, const json& rows, const std::string& resource,
                  const std::string& next_cursor, const SyncProgress& progress) override {
    if (fail_after_pages >= 0 && static_cast<int>(applied.size()) >= fail_after_pages) {
      throw plane::PlaneError(plane::ErrorKind::Internal, "simulated crash");
    }
    applied.push_back(Applied{table, rows, resource, next_cursor, progress});
    cursors[resource] = next_cursor;
  }

  std::vector<std::string> ids(MirrorTable table, const std::string& resource = "") const {
    std::vector<std::string> out;
    for (const auto& a : applied) {
      if (a.table != table || (!resource.empty() && a.resource != resource)) continue;
      for (const auto& r : a.rows) out.push_back(r["plane_id"].get<std::string>());
    }
    return out;
  }
  std::vector<std::string> cursors_saved(const std::string& resource) const {
    std::vector<std::string> out;
    for (const auto& a : applied) {
      if (a.resource == resource) out.push_back(a.next_cursor);
    }
    return out;
  }
};

json project(const std::string& id, const char* archived_at = nullptr) {
  json p = {{"id", id},
            {"name", "Project " + id},
            {"identifier", "P" + id.substr(1)},
            {"network", 2},
            {"created_at", "2026-01-01T10:00:00+05:30"},
            {"updated_at", "2026-01-02T10:00:00+05:30"},
            {"archived_at", nullptr}};
  if (archived_at != nullptr) p["archived_at"] = archived_at;
  return p;
}

json items(const std::string& project_id, int n) {
  json out = json::array();
  for (int i = 1; i <= n; ++i) {
    out.push_back({{"id", project_id + "-i" + std::to_string(i)},
                   {"name", "Item " + std::to_string(i)},
                   {"sequence_id", i},
                   {"project", project_id},
                   {"state", "s1"},
                   {"labels", json::array()},
                   {"assignees", json::array()},
                   {"created_at", "2026-01-03T00:00:00Z"},
                   {"updated_at", "2026-01-03T00:00:00-08:00"}});
  }
  return out;
}

std::vector<std::string> item_ids(const std::string& project_id, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(project_id + "-i" + std::to_string(i));
  return out;
}

class SyncEngineTest : public ::testing::Test {
 protected:
  SyncEngineTest() : transport(&waiter), plane_server(kPrefix), budget(60, 60000) {
    config.api_url = "https://api.plane.so";
    config.workspace_slug = "acme";
    config.per_page = 2;
    config.max_attempts = 3;
    // Five projects over three pages; p3 is archived. Work items: p1 five (three pages),
    // p2 none, p4 exactly one full page, p5 one. The archived project has items too, which must
    // never be requested (Plane hides them anyway).
    plane_server.lists["projects/"] = json::array(
        {project("p1"), project("p2"), project("p3", "2026-02-01T10:00:00+05:30"), project("p4"),
         project("p5")});
    plane_server.lists["projects/p1/work-items/"] = items("p1", 5);
    plane_server.lists["projects/p2/work-items/"] = items("p2", 0);
    plane_server.lists["projects/p3/work-items/"] = items("p3", 3);
    plane_server.lists["projects/p4/work-items/"] = items("p4", 2);
    plane_server.lists["projects/p5/work-items/"] = items("p5", 1);
    transport.handler = [this](const plane::HttpRequest& r) { return plane_server(r); };
  }

  plane::SyncSummary run() {
    plane::PlaneClient client(config, transport, budget, credentials, waiter);
    plane::SyncEngine engine(client, sink);
    return engine.run();
  }

  std::vector<fakes::ParsedUrl> requests_for(const std::string& path) const {
    std::vector<fakes::ParsedUrl> out;
    for (const auto& r : plane_server.requests) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  }

  plane::PlaneClientConfig config;
  FakeWaiter waiter;
  FakeTransport transport;
  FakePlane plane_server;
  plane::LocalRequestBudget budget;
  fakes::FakeCredentials credentials;
  FakeSink sink;
};

TEST_F(SyncEngineTest, AllRowsArrive) {
  const plane::SyncSummary summary = run();
  EXPECT_EQ(sink.ids(MirrorTable::Projects),
            (std::vector<std::string>{"p1", "p2", "p3", "p4", "p5"}));
  std::vector<std::string> expected = item_ids("p1", 1, 5);
  for (const auto& id : item_ids("p4", 1, 2)) expected.push_back(id);
  expected.push_back("p5-i1");
  EXPECT_EQ(sink.ids(MirrorTable::Items), expected);
  EXPECT_EQ(summary.projects, 5);
  EXPECT_EQ(summary.work_items, 8);
  // Pages: projects 3, p1 3, p2 1 (empty), p4 1, p5 1.
  EXPECT_EQ(summary.pages, 9);
  EXPECT_EQ(sink.applied.size(), 9u);
  EXPECT_EQ(summary.http.requests, 9);
  EXPECT_EQ(summary.http.retries, 0);
}

TEST_F(SyncEngineTest, RowsAreMapped) {
  run();
  const Applied& first_projects = sink.applied.at(0);
  ASSERT_EQ(first_projects.table, MirrorTable::Projects);
  const json& p1 = first_projects.rows.at(0);
  EXPECT_EQ(p1["plane_id"], "p1");
  EXPECT_EQ(p1["plane_created_at"], "2026-01-01T04:30:00.000000Z");
  EXPECT_EQ(p1["raw"]["name"], "Project p1");
  for (const auto& a : sink.applied) {
    if (a.table != MirrorTable::Items) continue;
    for (const auto& row : a.rows) {
      EXPECT_EQ(row["item_type"], "issue");
      EXPECT_EQ(row["plane_updated_at"], "2026-01-03T08:00:00.000000Z");
      EXPECT_EQ(a.resource, plane::work_items_resource(row["project_plane_id"].get<std::string>()));
    }
  }
}

TEST_F(SyncEngineTest, ArchivedProjectIsMirroredButItsItemsAreNotRequested) {
  run();
  EXPECT_TRUE(requests_for("projects/p3/work-items/").empty());
  for (const auto& id : sink.ids(MirrorTable::Items)) EXPECT_NE(id.rfind("p3-", 0), 0u) << id;
  // The project row itself is kept, with archived_at in UTC.
  bool found = false;
  for (const auto& a : sink.applied) {
    for (const auto& row : a.rows) {
      if (a.table == MirrorTable::Projects && row["plane_id"] == "p3") {
        found = true;
        EXPECT_EQ(row["archived_at"], "2026-02-01T04:30:00.000000Z");
      }
    }
  }
  EXPECT_TRUE(found);
  // And no cursor is ever consulted for it.
  for (const auto& r : sink.loads) EXPECT_NE(r, plane::work_items_resource("p3"));
}

TEST_F(SyncEngineTest, EveryRequestUsesTheSamePerPageAndFollowsCursors) {
  run();
  ASSERT_FALSE(plane_server.requests.empty());
  for (const auto& r : plane_server.requests) {
    EXPECT_EQ(r.query.at("per_page"), "2") << r.path;
    EXPECT_EQ(r.query.at("order_by"), "created_at") << r.path;
  }
  const auto p1 = requests_for("projects/p1/work-items/");
  ASSERT_EQ(p1.size(), 3u);
  EXPECT_EQ(p1[0].query.count("cursor"), 0u);
  EXPECT_EQ(p1[1].query.at("cursor"), "2:1:0");
  EXPECT_EQ(p1[2].query.at("cursor"), "2:2:0");
  const auto projects = requests_for("projects/");
  ASSERT_EQ(projects.size(), 3u);
  EXPECT_EQ(projects[0].query.count("cursor"), 0u);
  EXPECT_EQ(projects[2].query.at("cursor"), "2:2:0");
  // Stops on next_page_results == false although the last page still carries "2:3:0".
  EXPECT_EQ(requests_for("projects/p4/work-items/").size(), 1u);
}

TEST_F(SyncEngineTest, CursorSavedPerPageAndClearedAtTheEnd) {
  run();
  EXPECT_EQ(sink.cursors_saved(plane::work_items_resource("p1")),
            (std::vector<std::string>{"2:1:0", "2:2:0", ""}));
  EXPECT_EQ(sink.cursors_saved(plane::work_items_resource("p2")), (std::vector<std::string>{""}));
  EXPECT_EQ(sink.cursors_saved(plane::work_items_resource("p4")), (std::vector<std::string>{""}));
  EXPECT_EQ(sink.cursors_saved(plane::work_items_resource("p5")), (std::vector<std::string>{""}));
  // The small project list is always read whole: it never leaves a resume cursor behind.
  for (const auto& c : sink.cursors_saved("projects")) EXPECT_EQ(c, "");
  for (const auto& [resource, cursor] : sink.cursors) EXPECT_EQ(cursor, "") << resource;
}

TEST_F(SyncEngineTest, ResumesFromSavedCursor) {
  sink.cursors[plane::work_items_resource("p1")] = "2:2:0";
  run();
  const auto p1 = requests_for("projects/p1/work-items/");
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_EQ(p1[0].query.at("cursor"), "2:2:0");
  EXPECT_EQ(sink.ids(MirrorTable::Items, plane::work_items_resource("p1")),
            (std::vector<std::string>{"p1-i5"}));
  EXPECT_EQ(sink.cursors[plane::work_items_resource("p1")], "");
  // Other projects start at the beginning.
  EXPECT_EQ(requests_for("projects/p4/work-items/").at(0).query.count("cursor"), 0u);
}

TEST_F(SyncEngineTest, ResumeWithChangedPageSizeSkipsNothing) {
  // Saved at 3 rows/page, page 1 (offset 3); now per_page is 2. Resuming at "2:1:0" (offset 2)
  // re-reads one row; "2:2:0" (offset 4) would skip the fourth row.
  sink.cursors[plane::work_items_resource("p1")] = "3:1:0";
  run();
  const auto p1 = requests_for("projects/p1/work-items/");
  ASSERT_FALSE(p1.empty());
  EXPECT_EQ(p1[0].query.at("cursor"), "2:1:0");
  const auto got = sink.ids(MirrorTable::Items, plane::work_items_resource("p1"));
  EXPECT_EQ(got, item_ids("p1", 3, 5));
}

TEST_F(SyncEngineTest, GarbageSavedCursorStartsOver) {
  sink.cursors[plane::work_items_resource("p1")] = "not-a-cursor";
  run();
  const auto p1 = requests_for("projects/p1/work-items/");
  ASSERT_EQ(p1.size(), 3u);
  EXPECT_EQ(p1[0].query.count("cursor"), 0u);
  EXPECT_EQ(sink.ids(MirrorTable::Items, plane::work_items_resource("p1")), item_ids("p1", 1, 5));
}

TEST_F(SyncEngineTest, InterruptedScanResumesOnNextRun) {
  // The sink dies while applying p1's second page: its first page (cursor "2:1:0") is committed.
  sink.fail_after_pages = 4;  // 3 project pages + 1 item page succeed
  EXPECT_THROW(run(), plane::PlaneError);
  EXPECT_EQ(sink.cursors[plane::work_items_resource("p1")], "2:1:0");
  EXPECT_EQ(sink.ids(MirrorTable::Items), item_ids("p1", 1, 2));

  sink.fail_after_pages = -1;
  plane_server.requests.clear();
  run();
  const auto p1 = requests_for("projects/p1/work-items/");
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_EQ(p1[0].query.at("cursor"), "2:1:0");
  std::set<std::string> all;
  for (const auto& id : sink.ids(MirrorTable::Items, plane::work_items_resource("p1"))) {
    all.insert(id);
  }
  const auto want = item_ids("p1", 1, 5);
  EXPECT_EQ(all, std::set<std::string>(want.begin(), want.end()));
  EXPECT_EQ(sink.cursors[plane::work_items_resource("p1")], "");
}

TEST_F(SyncEngineTest, ProgressCounts) {
  run();
  // rows_expected = 5 projects + the totals of every live project's item list (5+0+2+1).
  const SyncProgress& last = sink.applied.back().progress;
  EXPECT_EQ(last.rows_expected, 13);
  EXPECT_EQ(last.rows_done, 13);
  EXPECT_EQ(last.pages_done, 9);
  EXPECT_EQ(last.phase, "work_items");

  const SyncProgress& first = sink.applied.front().progress;
  EXPECT_EQ(first.phase, "projects");
  EXPECT_EQ(first.pages_done, 1);
  EXPECT_EQ(first.rows_done, 2);
  EXPECT_EQ(first.rows_expected, 5);  // known from the first envelope's total_results

  long prev_pages = 0, prev_rows = 0;
  for (const auto& a : sink.applied) {
    EXPECT_EQ(a.progress.pages_done, prev_pages + 1);
    EXPECT_EQ(a.progress.rows_done, prev_rows + static_cast<long>(a.rows.size()));
    EXPECT_EQ(a.progress.phase, a.table == MirrorTable::Projects ? "projects" : "work_items");
    EXPECT_LE(a.progress.rows_done, a.progress.rows_expected);
    prev_pages = a.progress.pages_done;
    prev_rows = a.progress.rows_done;
  }
  // After the first page of p1 the expected count includes p1's total.
  EXPECT_EQ(sink.applied.at(3).progress.rows_expected, 10);
}

TEST_F(SyncEngineTest, TransientErrorsMidScanAreRetried) {
  int calls = 0;
  transport.handler = [this, &calls](const plane::HttpRequest& r) {
    if (++calls == 5) return fakes::response(502, "<html>Bad Gateway</html>");
    return plane_server(r);
  };
  const plane::SyncSummary summary = run();
  EXPECT_EQ(summary.work_items, 8);
  EXPECT_EQ(summary.http.retries, 1);
  EXPECT_EQ(summary.http.requests, 10);
}

TEST_F(SyncEngineTest, BareArrayItemListIsOnePage) {
  transport.handler = [this](const plane::HttpRequest& r) {
    if (r.url.find("projects/p5/work-items/") != std::string::npos) {
      return fakes::response(200, items("p5", 3).dump());
    }
    return plane_server(r);
  };
  run();
  EXPECT_EQ(sink.ids(MirrorTable::Items, plane::work_items_resource("p5")), item_ids("p5", 1, 3));
  EXPECT_EQ(sink.cursors_saved(plane::work_items_resource("p5")), (std::vector<std::string>{""}));
}

TEST_F(SyncEngineTest, ItemWithoutIdFailsTheRunWithParseError) {
  plane_server.lists["projects/p4/work-items/"] = json::array({{{"name", "no id"}}});
  try {
    run();
    FAIL() << "expected a PlaneError";
  } catch (const plane::PlaneError& e) {
    EXPECT_EQ(e.kind(), plane::ErrorKind::Parse);
  }
  // Earlier projects' pages were applied before the failure.
  EXPECT_EQ(sink.cursors[plane::work_items_resource("p1")], "");
}

TEST_F(SyncEngineTest, AuthFailureStopsTheRunImmediately) {
  transport.handler = [](const plane::HttpRequest&) {
    return fakes::response(403, R"({"detail": "Given API token is not valid"})");
  };
  try {
    run();
    FAIL() << "expected a PlaneError";
  } catch (const plane::PlaneError& e) {
    EXPECT_EQ(e.kind(), plane::ErrorKind::Auth);
  }
  EXPECT_EQ(transport.sent.size(), 1u);
  EXPECT_TRUE(sink.applied.empty());
}

TEST(WorkItemsResource, Name) {
  EXPECT_EQ(plane::work_items_resource("abc"), "work_items:abc");
}

}  // namespace
