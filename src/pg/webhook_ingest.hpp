// work_plane.ingest_webhook: the one path every transport (SQL, PostgREST, the embedded receiver)
// uses to accept a Plane delivery. Authenticates before touching the body, enqueues idempotently,
// makes no HTTP call, and answers the HTTP status to give Plane.
#pragma once

#include <string>
#include <string_view>

#include "core/webhook_auth.hpp"

namespace plane::pg {

// Runs inside the caller's transaction (SPI is connected and finished inside). Returns 200, 400,
// 401, 404, 413, 503.
int ingest_webhook(const std::string& slug, const plane::HeaderMap& headers, std::string_view body);

// The same with the request's headers as a JSON object ("" or "null" for none).
int ingest_webhook(const std::string& slug, const std::string& headers_json, std::string_view body);

// Wakes the queue worker when the current transaction commits (registered once per backend).
void wake_queue_worker_at_commit();

}  // namespace plane::pg
