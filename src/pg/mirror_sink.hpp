// The sync engine's MirrorSink in Postgres: each page is one short transaction that upserts the
// page's rows set-based, saves the scan cursor and the progress shown by work_plane.sync_status.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/sync_engine.hpp"

namespace plane::pg {

class PgMirrorSink final : public plane::MirrorSink {
 public:
  explicit PgMirrorSink(std::string slug) : slug_(std::move(slug)) {}
  plane::ResourceState load_state(const std::string& resource) override;
  void apply_page(plane::MirrorTable table, const plane::MirrorRows& rows, const std::string& resource,
                  const std::string& next_cursor, const plane::SyncProgress& progress,
                  plane::ChangeSource source) override;
  void complete_scan(const std::string& resource, plane::MirrorTable table,
                     const plane::Scope& scope, std::int64_t scan_started_us, bool full) override;
  void complete_refresh(const std::string& resource) override;
  std::vector<std::string> find_missing(plane::MirrorTable table, const plane::Scope& scope,
                                        const std::vector<std::string>& seen_ids) override;
  long mark_gone(plane::MirrorTable table, const std::vector<std::string>& ids) override;
  std::vector<std::string> find_stale(plane::MirrorTable table,
                                      const nlohmann::json& versions) override;
  std::vector<std::string> find_without_content(const nlohmann::json& versions) override;
  void set_available(const std::string& resource, bool available, const std::string& reason) override;
  std::map<std::string, plane::ProjectAccess> load_project_access() override;
  void set_project_access(const std::string& project_id, plane::ProjectAccess access,
                          const std::string& reason) override;
  plane::ServerProfile load_profile() override;
  void save_profile(const plane::ServerProfile& profile) override;
  void set_cycle_members(const std::string& project_id, const std::string& cycle_id,
                         const std::vector<std::string>& item_ids) override;
  void set_module_members(const std::string& project_id, const std::string& module_id,
                          const std::vector<std::string>& item_ids) override;

 private:
  // Runs `sql` ($1 the workspace, $2 `versions` as jsonb) and returns its first column.
  std::vector<std::string> select_ids(const std::string& sql, const nlohmann::json& versions);

  std::string slug_;
};

// Forgets every saved scan cursor of a workspace (a full sync starts from the first page).
void clear_cursors(const std::string& slug);


}  // namespace plane::pg
