// SQL-callable helpers of the administration functions (declared in control/plane_connector--*.sql):
// who called, where credentials may go, whether a worker serves this database, asking a running
// sync to stop, and the mirror's columns as the C++ code writes them.
#include <string>
#include <vector>

#include "core/hosts.hpp"
#include "core/mirror_schema.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/shared_state.hpp"

extern "C" {
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "utils/tuplestore.h"
}

// work_plane._calling_user() → name: inside a SECURITY DEFINER function current_user is the
// function's owner; the outer user is the role that called it (after any SET ROLE).
PLANE_SQL_FUNCTION(plane_calling_user) {
  Datum result = 0;
  plane::pg::pg_call([&]() noexcept {
    result = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
  });
  PG_RETURN_DATUM(result);
}

// work_plane._check_credential_url(url text, what text) → void
PLANE_SQL_FUNCTION(plane_check_credential_url) {
  if (PG_ARGISNULL(0)) PG_RETURN_VOID();
  // Every Postgres call (detoasting) before any C++ object exists in this frame.
  text* url_text = PG_GETARG_TEXT_PP(0);
  text* what_text = PG_ARGISNULL(1) ? nullptr : PG_GETARG_TEXT_PP(1);
  const std::string url(VARDATA_ANY(url_text), VARSIZE_ANY_EXHDR(url_text));
  const std::string what = what_text == nullptr ? "url" : std::string(VARDATA_ANY(what_text), VARSIZE_ANY_EXHDR(what_text));
  const std::string problem = plane::credential_url_problem(
      url, plane::parse_host_list(plane::pg::settings.allowed_hosts != nullptr ? plane::pg::settings.allowed_hosts : ""),
      "plane.allowed_hosts");
  if (problem.empty()) PG_RETURN_VOID();
  const std::string message = what + " refused: " + problem;
  bool superuser = false;
  plane::pg::pg_call([&]() noexcept { superuser = superuser_arg(GetOuterUserId()); });
  if (!superuser) {
    throw plane::pg::PgError(ERRCODE_INSUFFICIENT_PRIVILEGE, "plane_connector: " + message, "",
                             "A superuser decides which hosts may receive Plane credentials: "
                             "ALTER SYSTEM SET plane.allowed_hosts = '...'; SELECT pg_reload_conf();");
  }
  // A superuser may register it; the workers still send nothing there until the host is allowed.
  plane::pg::pg_call([&]() noexcept {
    ereport(WARNING, (errmsg("plane_connector: %s: no credential is sent there until plane.allowed_hosts "
                             "lists the host",
                             message.c_str())));
  });
  PG_RETURN_VOID();
}

// work_plane._unserved_reason() → text: why no launcher serves this database, NULL when one does.
PLANE_SQL_FUNCTION(plane_unserved_reason) {
  std::string reason;
  plane::pg::pg_call([&]() noexcept {
    if (RecoveryInProgress()) {
      plane::pg::cpp_step([&] { reason = "this server is a standby (the workers start when it is promoted)"; });
      return;
    }
    if (plane::pg::shared_state() == nullptr || plane::pg::settings.database == nullptr) {
      plane::pg::cpp_step([&] { reason = "plane_connector is not in shared_preload_libraries"; });
      return;
    }
    const char* here = get_database_name(MyDatabaseId);
    if (here != nullptr && strcmp(here, plane::pg::settings.database) != 0) {
      plane::pg::cpp_step([&] {
        reason = std::string("plane.database is \"") + plane::pg::settings.database +
                 "\": the workers serve that database, not \"" + here + "\"";
      });
      return;
    }
    if (plane::pg::launcher_pid() == 0) {
      plane::pg::cpp_step([&] { reason = "the plane_connector launcher is not running (it restarts within seconds)"; });
    }
  });
  if (reason.empty()) PG_RETURN_NULL();
  Datum out = 0;
  plane::pg::pg_call([&]() noexcept { out = CStringGetTextDatum(reason.c_str()); });
  PG_RETURN_DATUM(out);
}

// work_plane._request_cancel(workspace_slug text) → boolean: whether a running sync was asked to stop.
PLANE_SQL_FUNCTION(plane_request_cancel) {
  text* slug_text = PG_GETARG_TEXT_PP(0);
  const std::string slug(VARDATA_ANY(slug_text), VARSIZE_ANY_EXHDR(slug_text));
  PG_RETURN_BOOL(plane::pg::request_sync_cancel(slug.c_str()));
}

// work_plane._mirror_columns() → (table_name, column_name, sql_type)
PLANE_SQL_FUNCTION(plane_mirror_columns) {
  struct Row {
    std::string table, column, type;
  };
  std::vector<Row> rows;
  for (plane::MirrorTable t : plane::kMirrorTables) {
    const plane::MirrorTableSpec& spec = plane::mirror_table_spec(t);
    for (const auto& c : spec.columns) rows.push_back({spec.qualified_name, c.name, c.sql_type});
  }
  plane::pg::pg_call([&]() noexcept {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    for (const auto& r : rows) {
      Datum values[3] = {CStringGetTextDatum(r.table.c_str()), CStringGetTextDatum(r.column.c_str()),
                         CStringGetTextDatum(r.type.c_str())};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
  });
  PG_RETURN_NULL();
}
