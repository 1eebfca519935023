// Prepared SPI statements kept for the life of the process (SPI_keepplan), so that a backfill plans
// each statement once rather than once per page.
#pragma once

#include "pg/pg_prelude.hpp"

namespace plane::pg {

struct KeptPlan {
  const char* sql;
  int nargs;
  Oid types[24];
  SPIPlanPtr plan;
};

// SPI_connect, or ERROR (call inside pg_call: it may longjmp).
void spi_connect() noexcept;

// Prepares on first use (inside a transaction with SPI connected); ERRORs like SPI would.
SPIPlanPtr kept_plan(KeptPlan& kept);

// Executes a kept plan; ERRORs unless the result is `expected` (SPI_OK_*).
void exec_kept(KeptPlan& kept, const Datum* values, const char* nulls, bool read_only,
               int expected);

// SPI_execute_with_args (one-shot statements); ERRORs unless the result is `expected`. Every SPI
// result is checked: a statement that did not do what it says is an error, never a silent no-op.
void exec_sql(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls,
              bool read_only, int expected, long count = 0) noexcept;

}  // namespace plane::pg
