// The embedded webhook receiver: a background worker that, when plane.webhook_listen_address is
// set, accepts POST /plane/webhook/{workspace_slug} over HTTP (libmicrohttpd, driven from the
// worker's own latch loop) and answers with work_plane.ingest_webhook's status.
#pragma once

#include "pg/pg_prelude.hpp"

namespace plane::pg {

void register_webhook_receiver();  // only when plane.webhook_listen_address is set

}  // namespace plane::pg

extern "C" {
PGDLLEXPORT void plane_webhook_receiver_main(Datum arg);
}
