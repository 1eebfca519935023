// Audit rows that outlive the transaction that produced them. Postgres has no autonomous
// transactions: a SQL function that logs to ops.run_events and then raises an ERROR loses its log
// row. Such rows go through shared memory instead and the queue worker inserts them (it is woken
// at once); without the worker (library not preloaded) they are inserted in the caller's
// transaction and share its fate.
#pragma once

#include <string>

namespace plane::pg {

// Queues one ops.run_events row. Returns false when it could only be written transactionally.
bool audit_outside_transaction(const char* source, const std::string& workspace_slug,
                               const std::string& action, int plane_response_status,
                               const std::string& details_json);

// Inserts queued rows (the queue worker, outside a transaction). Returns how many.
int flush_audit_outbox();

}  // namespace plane::pg
