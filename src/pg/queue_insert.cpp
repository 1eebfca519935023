#include "pg/queue_insert.hpp"

#include <cstring>

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/primnodes.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
}

namespace plane::pg {

namespace {

// Where each column of a new queue row comes from.
enum class Fill { Null, Supplied, Constant, Now, Identity };

// The columns the caller supplies, by name (the INSERT statement of webhook_ingest.cpp lists the
// same ones): a table without one of them is not written directly.
enum Supplied { kSource, kKey, kSlug, kEventType, kDeliveryId, kPayload, kStatus, kSuppliedCount };
constexpr const char* kSuppliedNames[kSuppliedCount] = {
    "source", "idempotency_key", "workspace_slug", "event_type", "delivery_id", "payload", "status"};
constexpr Oid kSuppliedTypes[kSuppliedCount] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                                                TEXTOID, JSONBOID, TEXTOID};
// The statuses ingest writes, whose CHECK verdicts are remembered.
constexpr const char* kStatuses[] = {"pending", "ignored"};
constexpr int kStatusCount = 2;

struct ColumnSource {
  Fill fill;
  int supplied;  // Supplied: which
  Datum value;   // Constant: the value (copied into the shape's memory)
  bool is_null;  // Constant: a NULL constant
  Oid sequence;  // Identity
  Oid type;      // Identity: int8 or int4
};

// What this backend learnt about ops.event_queue; `known` is cleared by any relcache invalidation
// of the table (and by a full reset), so DDL is seen before the next row is written.
struct QueueShape {
  bool known = false;
  bool eligible = false;
  Oid relid = InvalidOid;
  AttrNumber key_attno = InvalidAttrNumber;
  List* key_indexes = NIL;  // arbiters: every unique index ON CONFLICT (idempotency_key) infers
  int natts = 0;
  ColumnSource* columns = nullptr;  // natts entries
  bool* not_null = nullptr;         // natts entries
  bool status_passes[kStatusCount] = {false, false};
  MemoryContext memory = nullptr;
};

QueueShape shape;
bool callback_registered = false;

void on_relcache_invalidation(Datum, Oid relid) {
  if (relid == InvalidOid || relid == shape.relid) shape.known = false;
}

bool is_key_index(Relation index, AttrNumber key_attno) {
  Form_pg_index form = index->rd_index;
  return form->indisunique && form->indimmediate && form->indisvalid && form->indisready &&
         form->indnkeyatts == 1 && form->indkey.values[0] == key_attno &&
         heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr) &&
         heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, nullptr);
}

// Whether every CHECK constraint reads status alone; if so, records for each status ingest
// writes whether all of them pass (evaluated here, once: a CHECK must be immutable).
bool checks_read_only_status(Relation rel, AttrNumber status_attno) {
  TupleDesc desc = RelationGetDescr(rel);
  if (desc->constr == nullptr || desc->constr->num_check == 0) {
    for (bool& passes : shape.status_passes) passes = true;
    return true;
  }
  List* checks = NIL;
  for (int i = 0; i < desc->constr->num_check; ++i) {
    Node* expr = static_cast<Node*>(stringToNode(desc->constr->check[i].ccbin));
    Bitmapset* attnos = nullptr;
    pull_varattnos(expr, 1, &attnos);
    const int status_member = status_attno - FirstLowInvalidHeapAttributeNumber;
    if (bms_num_members(attnos) > 1 || (bms_num_members(attnos) == 1 && !bms_is_member(status_member, attnos))) {
      return false;
    }
    checks = lappend(checks, expr);
  }
  EState* estate = CreateExecutorState();
  ExprContext* econtext = GetPerTupleExprContext(estate);
  ExprState* check = ExecPrepareCheck(checks, estate);
  TupleTableSlot* slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
  for (int s = 0; s < kStatusCount; ++s) {
    ExecClearTuple(slot);
    for (int i = 0; i < desc->natts; ++i) slot->tts_isnull[i] = true;
    slot->tts_values[status_attno - 1] = CStringGetTextDatum(kStatuses[s]);
    slot->tts_isnull[status_attno - 1] = false;
    ExecStoreVirtualTuple(slot);
    econtext->ecxt_scantuple = slot;
    shape.status_passes[s] = ExecCheck(check, econtext);
    ResetExprContext(econtext);
  }
  ExecResetTupleTable(estate->es_tupleTable, false);
  FreeExecutorState(estate);
  return true;
}

// The unique indexes ON CONFLICT (idempotency_key) infers as arbiters: valid, immediate, not
// partial, on that column alone. Allocated in the current memory context.
List* key_indexes_of(Relation rel, AttrNumber key_attno) {
  List* found = NIL;
  List* indexes = RelationGetIndexList(rel);
  ListCell* lc;
  foreach (lc, indexes) {
    Relation index = index_open(lfirst_oid(lc), AccessShareLock);
    if (is_key_index(index, key_attno)) found = lappend_oid(found, RelationGetRelid(index));
    index_close(index, AccessShareLock);
  }
  list_free(indexes);
  return found;
}

// How a column without a supplied value is filled, from its default expression; false for one
// the direct path does not evaluate.
bool column_source_from_default(Relation rel, Form_pg_attribute att, ColumnSource& out) {
  if (!att->atthasdef && att->attidentity == '\0') {
    out.fill = Fill::Null;
    return true;
  }
  Node* expr = build_column_default(rel, att->attnum);
  if (expr == nullptr) {
    out.fill = Fill::Null;
    return true;
  }
  if (IsA(expr, Const)) {
    Const* c = castNode(Const, expr);
    if (c->consttype != att->atttypid) return false;
    out.fill = Fill::Constant;
    out.is_null = c->constisnull;
    out.value = c->constisnull ? Datum(0) : datumCopy(c->constvalue, c->constbyval, c->constlen);
    return true;
  }
  if (IsA(expr, NextValueExpr)) {
    NextValueExpr* next = castNode(NextValueExpr, expr);
    if (next->typeId != INT8OID && next->typeId != INT4OID) return false;
    if (next->typeId != att->atttypid) return false;
    out.fill = Fill::Identity;
    out.sequence = next->seqid;
    out.type = next->typeId;
    return true;
  }
  const bool now_function = IsA(expr, FuncExpr) && castNode(FuncExpr, expr)->funcid == F_NOW;
  const bool current_timestamp = IsA(expr, SQLValueFunction) &&
                                 castNode(SQLValueFunction, expr)->op == SVFOP_CURRENT_TIMESTAMP;
  if ((now_function || current_timestamp) && att->atttypid == TIMESTAMPTZOID) {
    out.fill = Fill::Now;
    return true;
  }
  return false;
}

// Learns the table's shape (into shape); shape.eligible says whether rows may be written directly.
void learn_shape(Relation rel) {
  if (shape.memory == nullptr) {
    shape.memory = AllocSetContextCreate(TopMemoryContext, "plane_connector queue shape",
                                         ALLOCSET_SMALL_SIZES);
  }
  MemoryContextReset(shape.memory);
  shape.eligible = false;
  shape.columns = nullptr;
  shape.not_null = nullptr;
  shape.key_indexes = NIL;

  Form_pg_class form = rel->rd_rel;
  if (form->relkind != RELKIND_RELATION || form->relam != HEAP_TABLE_AM_OID ||
      rel->trigdesc != nullptr || form->relrowsecurity || form->relforcerowsecurity) {
    return;
  }
  TupleDesc desc = RelationGetDescr(rel);
  if (desc->constr != nullptr && desc->constr->has_generated_stored) return;

  MemoryContext caller = MemoryContextSwitchTo(shape.memory);
  shape.natts = desc->natts;
  shape.columns = static_cast<ColumnSource*>(palloc0(sizeof(ColumnSource) * desc->natts));
  shape.not_null = static_cast<bool*>(palloc0(sizeof(bool) * desc->natts));
  bool seen[kSuppliedCount] = {};
  AttrNumber key_attno = InvalidAttrNumber;
  AttrNumber status_attno = InvalidAttrNumber;
  bool ok = true;
  for (int i = 0; i < desc->natts && ok; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    ColumnSource& column = shape.columns[i];
    if (att->attisdropped) {
      column.fill = Fill::Null;
      continue;
    }
    shape.not_null[i] = att->attnotnull;
    int supplied = -1;
    for (int s = 0; s < kSuppliedCount; ++s) {
      if (std::strcmp(NameStr(att->attname), kSuppliedNames[s]) == 0) supplied = s;
    }
    if (supplied >= 0) {
      if (att->atttypid != kSuppliedTypes[supplied]) ok = false;
      column.fill = Fill::Supplied;
      column.supplied = supplied;
      seen[supplied] = true;
      if (supplied == kKey) key_attno = att->attnum;
      if (supplied == kStatus) status_attno = att->attnum;
    } else {
      ok = column_source_from_default(rel, att, column);
    }
  }
  for (bool s : seen) ok = ok && s;
  if (ok) ok = checks_read_only_status(rel, status_attno);
  if (ok) {
    shape.key_attno = key_attno;
    shape.key_indexes = key_indexes_of(rel, key_attno);
    ok = shape.key_indexes != NIL;
  }
  MemoryContextSwitchTo(caller);
  shape.eligible = ok;
}

// Opens ops.event_queue (RowExclusiveLock, as the INSERT would) and makes sure its shape is known.
Relation open_queue_table() {
  if (shape.relid == InvalidOid) {
    const Oid ops = get_namespace_oid("ops", true);
    if (ops != InvalidOid) shape.relid = get_relname_relid("event_queue", ops);
    shape.known = false;
    if (shape.relid == InvalidOid) return nullptr;
  }
  Relation rel = try_relation_open(shape.relid, RowExclusiveLock);
  if (rel == nullptr) {  // dropped since: look it up by name next time
    shape.relid = InvalidOid;
    shape.known = false;
    return nullptr;
  }
  // Renamed, or another table now holds the OID's name: forget it (the statement resolves names).
  if (std::strcmp(RelationGetRelationName(rel), "event_queue") != 0 ||
      RelationGetNamespace(rel) != get_namespace_oid("ops", true)) {
    relation_close(rel, NoLock);
    shape.relid = InvalidOid;
    shape.known = false;
    return nullptr;
  }
  // Known only once learnt completely: an error half way leaves it to be learnt again.
  if (!shape.known) {
    learn_shape(rel);
    shape.known = true;
  }
  return rel;
}

int status_index(const char* status) {
  for (int s = 0; s < kStatusCount; ++s) {
    if (std::strcmp(status, kStatuses[s]) == 0) return s;
  }
  return -1;
}

// The new row's values into the (empty) slot, each column as the table's shape says; false when a
// NOT NULL column would stay empty.
bool fill_row(const QueueEventRow& row, TupleTableSlot* slot) noexcept {
  ExecClearTuple(slot);
  const Datum supplied[kSuppliedCount] = {
      CStringGetTextDatum("plane"),
      CStringGetTextDatum(row.idempotency_key),
      CStringGetTextDatum(row.workspace_slug),
      CStringGetTextDatum(row.event_type),
      row.delivery_id != nullptr ? CStringGetTextDatum(row.delivery_id) : Datum(0),
      row.payload,
      CStringGetTextDatum(row.status)};
  bool complete = true;
  for (int i = 0; i < shape.natts; ++i) {
    const ColumnSource& column = shape.columns[i];
    Datum& value = slot->tts_values[i];
    bool& is_null = slot->tts_isnull[i];
    switch (column.fill) {
      case Fill::Null: is_null = true; break;
      case Fill::Supplied:
        is_null = column.supplied == kDeliveryId && row.delivery_id == nullptr;
        value = supplied[column.supplied];
        break;
      case Fill::Constant:
        is_null = column.is_null;
        value = column.value;
        break;
      case Fill::Now:
        is_null = false;
        value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
        break;
      case Fill::Identity: {
        const int64 next = nextval_internal(column.sequence, false);
        is_null = false;
        value = column.type == INT8OID ? Int64GetDatum(next) : Int32GetDatum(static_cast<int32>(next));
        break;
      }
    }
    if (is_null && shape.not_null[i]) complete = false;
  }
  return complete;
}

// Whether every arbiter is among the indexes this statement opened, still usable: DROP INDEX
// CONCURRENTLY does not conflict with our lock, and a missing arbiter would let duplicates in.
bool arbiters_open(ResultRelInfo* result_rel) noexcept {
  int open = 0;
  for (int i = 0; i < result_rel->ri_NumIndices; ++i) {
    Relation index = result_rel->ri_IndexRelationDescs[i];
    if (list_member_oid(shape.key_indexes, RelationGetRelid(index)) && is_key_index(index, shape.key_attno)) {
      ++open;
    }
  }
  return open == list_length(shape.key_indexes);
}

// INSERT ... ON CONFLICT DO NOTHING as the executor does it (nodeModifyTable.c, ExecInsert): a
// speculative insertion that a concurrent inserter of the same key can see and wait for; if the
// index insertion finds that key, the tuple is withdrawn, and the check that waits for the other
// inserter's outcome says whether it is a duplicate or to try again. Unlike the executor, the
// first attempt skips that check: a delivery is new far more often than a retry, and a duplicate
// then costs one withdrawn (dead) tuple rather than every delivery an index probe.
QueueInsert insert_speculatively(Relation rel, ResultRelInfo* result_rel, TupleTableSlot* slot,
                                 EState* estate) noexcept {
  List* arbiters = shape.key_indexes;
  bool check_first = false;
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    ItemPointerData conflict;
    if (check_first && !ExecCheckIndexConstraints(result_rel, slot, estate, &conflict, arbiters)) {
      return QueueInsert::Duplicate;
    }
    const TransactionId xid = GetCurrentTransactionId();
    const uint32 token = SpeculativeInsertionLockAcquire(xid);
    table_tuple_insert_speculative(rel, slot, GetCurrentCommandId(true), 0, nullptr, token);
    bool conflicted = false;
    List* recheck = ExecInsertIndexTuples(result_rel, slot, estate, false, true, &conflicted, arbiters);
    table_tuple_complete_speculative(rel, slot, token, !conflicted);
    SpeculativeInsertionLockRelease(xid);
    list_free(recheck);
    if (!conflicted) return QueueInsert::Inserted;
    check_first = true;
  }
}

}  // namespace

QueueInsert insert_queue_event(const QueueEventRow& row) noexcept {
  // DO NOTHING under a transaction snapshot also checks the conflicting row's visibility.
  if (IsolationUsesXactSnapshot()) return QueueInsert::Unavailable;
  const int status = status_index(row.status);
  if (status < 0) return QueueInsert::Unavailable;
  if (!callback_registered) {
    CacheRegisterRelcacheCallback(on_relcache_invalidation, Datum(0));
    callback_registered = true;
  }
  Relation rel = open_queue_table();
  if (rel == nullptr) return QueueInsert::Unavailable;
  if (!shape.eligible || !shape.status_passes[status]) {
    relation_close(rel, NoLock);  // the statement takes the same lock
    return QueueInsert::Unavailable;
  }

  EState* estate = CreateExecutorState();
  TupleTableSlot* slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), table_slot_callbacks(rel));
  QueueInsert outcome = QueueInsert::Unavailable;  // a NOT NULL left empty: the statement raises it
  if (fill_row(row, slot)) {
    ExecStoreVirtualTuple(slot);
    ResultRelInfo* result_rel = makeNode(ResultRelInfo);
    InitResultRelInfo(result_rel, rel, 1, nullptr, 0);
    ExecOpenIndices(result_rel, true);
    if (arbiters_open(result_rel)) {
      outcome = insert_speculatively(rel, result_rel, slot, estate);
    } else {
      shape.known = false;
    }
    ExecCloseIndices(result_rel);
  }
  ExecResetTupleTable(estate->es_tupleTable, false);
  FreeExecutorState(estate);
  relation_close(rel, NoLock);
  return outcome;
}

}  // namespace plane::pg
