// The sync engine's MirrorSink in Postgres: each page is one short transaction that upserts the
// page's rows set-based, saves the scan cursor and the progress shown by work_plane.sync_status.
#pragma once

#include <string>

#include "core/sync_engine.hpp"

namespace plane::pg {

class PgMirrorSink final : public plane::MirrorSink {
 public:
  explicit PgMirrorSink(std::string slug) : slug_(std::move(slug)) {}
  std::string load_cursor(const std::string& resource) override;
  void apply_page(plane::MirrorTable table, const nlohmann::json& rows, const std::string& resource,
                  const std::string& next_cursor, const plane::SyncProgress& progress) override;

 private:
  std::string slug_;
};

// Forgets every saved scan cursor of a workspace (a full sync starts from the first page).
void clear_cursors(const std::string& slug);

}  // namespace plane::pg
