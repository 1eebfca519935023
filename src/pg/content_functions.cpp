// SQL functions over Plane's HTML (declared in control/plane_connector--0.2.0.sql):
//   work_plane.html_to_text(html text) → text
//   work_plane.html_chunks(html text, target_chars int, overlap_chars int)
//     → TABLE(chunk_no int, heading_path text[], content text)
// Thin wrappers over src/core/html_text: the argument is read (and converted to UTF-8) before any
// C++ object exists, the C++ work runs, and Postgres values are built from its result afterwards,
// inside pg_call.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.hpp"
#include "core/html_blocks_cache.hpp"
#include "core/html_text.hpp"
#include "core/text_chunker.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/tuplestore.h"
}

namespace {

// The bytes of a text argument as UTF-8 (the core's encoding). UTF-8 and SQL_ASCII databases hand
// their bytes over as they are (the core replaces anything malformed); other encodings are
// converted. C-level: may ereport, so it runs before any C++ object is alive.
std::string_view utf8_argument(text* t) noexcept {
  const char* data = VARDATA_ANY(t);
  const int len = static_cast<int>(VARSIZE_ANY_EXHDR(t));
  const int encoding = GetDatabaseEncoding();
  if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII) return {data, static_cast<std::size_t>(len)};
  const char* converted = pg_server_to_any(data, len, PG_UTF8);
  if (converted == data) return {data, static_cast<std::size_t>(len)};
  return {converted, strlen(converted)};
}

// A text datum of UTF-8 bytes in the database's encoding. Inside pg_call.
text* server_text(const std::string& utf8) noexcept {
  const int encoding = GetDatabaseEncoding();
  if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII) {
    return cstring_to_text_with_len(utf8.data(), static_cast<int>(utf8.size()));
  }
  const char* converted = pg_any_to_server(utf8.c_str(), static_cast<int>(utf8.size()), PG_UTF8);
  return cstring_to_text(converted);
}

}  // namespace

// work_plane.html_to_text(html text) → text (IMMUTABLE STRICT).
PLANE_SQL_FUNCTION(plane_html_to_text) {
  const std::string_view html = utf8_argument(PG_GETARG_TEXT_PP(0));
  const std::string plain = plane::blocks_to_text(*plane::recent_html_blocks().blocks(html));
  text* result = nullptr;
  plane::pg::pg_call([&]() noexcept { result = server_text(plain); });
  PG_RETURN_TEXT_P(result);
}

// work_plane.html_chunks(html text, target_chars int, overlap_chars int)
//   → TABLE(chunk_no int, heading_path text[], content text) (IMMUTABLE STRICT).
PLANE_SQL_FUNCTION(plane_html_chunks) {
  InitMaterializedSRF(fcinfo, 0);
  const std::string_view html = utf8_argument(PG_GETARG_TEXT_PP(0));
  const int32 target = PG_GETARG_INT32(1);
  const int32 overlap = PG_GETARG_INT32(2);
  if (target < 1 || overlap < 0) {
    throw plane::PlaneError(plane::ErrorKind::Config,
                            "target_chars must be at least 1 and overlap_chars at least 0");
  }
  std::vector<plane::TextChunk> chunks;
  try {
    chunks = plane::chunk_blocks(*plane::recent_html_blocks().blocks(html), static_cast<std::size_t>(target),
                                 static_cast<std::size_t>(overlap));
  } catch (const std::invalid_argument& e) {
    throw plane::PlaneError(plane::ErrorKind::Config, e.what());
  }
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  plane::pg::pg_call([&]() noexcept {
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const plane::TextChunk& chunk = chunks[i];
      const int depth = static_cast<int>(chunk.heading_path.size());
      Datum* headings = static_cast<Datum*>(palloc(sizeof(Datum) * (depth + 1)));
      for (int h = 0; h < depth; ++h) headings[h] = PointerGetDatum(server_text(chunk.heading_path[h]));
      Datum values[3] = {Int32GetDatum(static_cast<int32>(i + 1)),
                         PointerGetDatum(construct_array(headings, depth, TEXTOID, -1, false, TYPALIGN_INT)),
                         PointerGetDatum(server_text(chunk.content))};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
  });
  PG_RETURN_NULL();
}
