// The sync engine's MirrorSink in Postgres: each page is one short transaction that upserts the
// page's rows set-based, saves the scan cursor and the progress shown by work_plane.sync_status.
#pragma once

#include <string>
#include <vector>

#include "core/sync_engine.hpp"

namespace plane::pg {

class PgMirrorSink final : public plane::MirrorSink {
 public:
  explicit PgMirrorSink(std::string slug) : slug_(std::move(slug)) {}
  plane::ResourceState load_state(const std::string& resource) override;
  void apply_page(plane::MirrorTable table, const nlohmann::json& rows, const std::string& resource,
                  const std::string& next_cursor, const plane::SyncProgress& progress) override;
  void complete_scan(const std::string& resource, plane::MirrorTable table,
                     const plane::Scope& scope, std::int64_t scan_started_us, bool full) override;
  long mark_missing(plane::MirrorTable table, const plane::Scope& scope,
                    const std::vector<std::string>& seen_ids) override;
  std::vector<std::string> find_missing(plane::MirrorTable table, const plane::Scope& scope,
                                        const std::vector<std::string>& seen_ids) override;
  long mark_gone(plane::MirrorTable table, const std::vector<std::string>& ids) override;
  std::vector<std::string> find_stale(plane::MirrorTable table,
                                      const nlohmann::json& versions) override;
  void set_available(const std::string& resource, bool available) override;

 private:
  std::string slug_;
};

// Forgets every saved scan cursor of a workspace (a full sync starts from the first page).
void clear_cursors(const std::string& slug);


}  // namespace plane::pg
