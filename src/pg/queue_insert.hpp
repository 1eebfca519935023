// Enqueueing one webhook event into ops.event_queue without planning and running an INSERT: the
// row goes to the table and its indexes through the calls the executor itself makes for
// INSERT ... ON CONFLICT (idempotency_key) DO NOTHING (a pre-check of the key, then a speculative
// insertion confirmed or withdrawn after the index insertions). Per delivery that saves the
// executor's start and end and the re-preparation of the table's CHECK constraint, which were a
// quarter of an ingest_webhook call (bench/webhook_ingest.py).
//
// Only a table of the shape the extension creates is written this way; anything the direct path
// would silently skip makes it answer Unavailable, and the caller runs the SQL statement instead:
//   - a trigger of any kind (a DBA's audit trigger, a foreign key), forced row-level security,
//     a generated column, a table access method other than heap, a partitioned table;
//   - a column default other than none, a constant, now() or the identity sequence;
//   - a CHECK constraint that reads any column but status (a status-only CHECK is evaluated once
//     per status value and remembered until the table changes);
//   - no valid, immediate, non-partial unique index on idempotency_key alone;
//   - a NOT NULL column this row would leave empty (the statement then raises the usual error);
//   - REPEATABLE READ or SERIALIZABLE (DO NOTHING's visibility check there is the executor's).
// What was learnt about the table is dropped whenever its relcache entry is invalidated (any DDL
// on it, its indexes or constraints).
#pragma once

#include "pg/pg_prelude.hpp"

namespace plane::pg {

struct QueueEventRow {
  const char* idempotency_key;
  const char* workspace_slug;
  const char* event_type;
  const char* delivery_id;  // nullptr: NULL
  Datum payload;            // jsonb
  const char* status;       // "pending" or "ignored"
};

enum class QueueInsert { Inserted, Duplicate, Unavailable };

// C-level: call inside pg_call (it may ereport). Needs a transaction and an active snapshot.
QueueInsert insert_queue_event(const QueueEventRow& row) noexcept;

}  // namespace plane::pg
