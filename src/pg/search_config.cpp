// work_plane._search_config() → regconfig: the text-search configuration plane.search_config
// names, for the search index's triggers and work_plane.search. A name that resolves to no
// configuration falls back to work_plane.plane_search with a WARNING: a typo in a setting must
// not make every mirror upsert fail.
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "nodes/value.h"
#include "utils/regproc.h"
}

namespace {

// The configuration a name resolves to (search_path as the caller has it), InvalidOid when none.
Oid lookup(const char* name) noexcept {
  return get_ts_config_oid(stringToQualifiedNameList(name), true);
}

}  // namespace

PLANE_SQL_FUNCTION(plane_search_config) {
  const char* name = plane::pg::settings.search_config != nullptr ? plane::pg::settings.search_config
                                                                  : "work_plane.plane_search";
  Oid config = InvalidOid;
  try {
    plane::pg::pg_call([&]() noexcept { config = lookup(name); });
  } catch (const plane::pg::PgError&) {
    config = InvalidOid;  // a name the check hook let through but the parser refuses
  }
  if (OidIsValid(config)) PG_RETURN_OID(config);
  plane::pg::pg_call([&]() noexcept {
    config = get_ts_config_oid(list_make2(makeString(pstrdup("work_plane")), makeString(pstrdup("plane_search"))),
                               false);
    ereport(WARNING, (errmsg("plane.search_config names no text search configuration: \"%s\"", name),
                      errhint("work_plane.plane_search is used instead. Set plane.search_config to an "
                              "existing configuration and run SELECT work_plane.rebuild_search_index().")));
  });
  PG_RETURN_OID(config);
}
