#include "pg/spi_plan.hpp"

namespace plane::pg {

void spi_connect() noexcept {
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "plane_connector: SPI_connect failed");
}

SPIPlanPtr kept_plan(KeptPlan& kept) {
  if (kept.plan == nullptr) {
    // Always the generic plan: a custom plan folds parameters such as `$5::jsonb` into constants
    // at planning (parsing the JSON there), which makes it look cheaper than the generic one
    // forever, and then every execution is planned anew. Kept statements are keyed lookups and
    // upserts whose best plan does not depend on the values.
    SPIPlanPtr plan = SPI_prepare_cursor(kept.sql, kept.nargs, kept.types, CURSOR_OPT_GENERIC_PLAN);
    if (plan == nullptr) {
      elog(ERROR, "plane_connector: could not prepare statement: %s",
           SPI_result_code_string(SPI_result));
    }
    if (SPI_keepplan(plan) != 0) elog(ERROR, "plane_connector: SPI_keepplan failed");
    kept.plan = plan;
  }
  return kept.plan;
}

void exec_kept(KeptPlan& kept, const Datum* values, const char* nulls, bool read_only,
               int expected) {
  const int rc = SPI_execute_plan(kept_plan(kept), const_cast<Datum*>(values), nulls, read_only, 0);
  if (rc != expected) {
    elog(ERROR, "plane_connector: statement failed (%s): %.80s", SPI_result_code_string(rc),
         kept.sql);
  }
}

void exec_sql(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls,
              bool read_only, int expected, long count) noexcept {
  const int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, count);
  if (rc != expected) {
    elog(ERROR, "plane_connector: statement failed (%s): %.80s", SPI_result_code_string(rc), sql);
  }
}

}  // namespace plane::pg
