#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "core/plane_client.hpp"
#include "core/runtime.hpp"

namespace plane {

enum class MirrorTable { Projects, Items };

struct SyncProgress {
  std::string phase;        // "projects", "work_items", "done"
  long pages_done = 0;
  long rows_done = 0;
  long rows_expected = -1;  // from the envelopes' total_results; -1 while unknown
};

// Where mirrored rows go. The Postgres layer implements it with SPI; tests with vectors.
class MirrorSink {
 public:
  virtual ~MirrorSink() = default;
  // The saved cursor of an interrupted scan of `resource`, or "" to start at the beginning.
  virtual std::string load_cursor(const std::string& resource) = 0;
  // Upserts one page of mapped rows and saves `next_cursor` for `resource` ("" when the scan is
  // complete) and the progress, all-or-nothing: a crash after this call resumes after this page.
  virtual void apply_page(MirrorTable table, const nlohmann::json& rows,
                          const std::string& resource, const std::string& next_cursor,
                          const SyncProgress& progress) = 0;
};

struct SyncSummary {
  long projects = 0;
  long work_items = 0;
  long pages = 0;
  ClientStats http;
};

// One sync of one workspace: projects, then each live project's work items, page by page, with
// Plane's real pagination. Resumes an interrupted work-item scan from the cursor saved per page.
class SyncEngine {
 public:
  SyncEngine(PlaneClient& client, MirrorSink& sink) : client_(client), sink_(sink) {}
  SyncSummary run();

 private:
  void sync_projects(std::vector<std::string>& live_project_ids);
  void sync_work_items(const std::string& project_id);

  PlaneClient& client_;
  MirrorSink& sink_;
  SyncProgress progress_;
  SyncSummary summary_;
};

// Resource names used for cursors in work_plane.events_cursor.
std::string work_items_resource(const std::string& project_id);

}  // namespace plane
