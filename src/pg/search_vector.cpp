// work_plane._tsvector_head(document tsvector, last_position int) → tsvector
//
// The lexemes of a search document with only their positions up to last_position: the title and
// the beginning of the body. work_plane.search ranks by it (search_documents.rank_vector): ranking
// the full document of a long page means decompressing and reading it out of TOAST for every hit,
// and a query with thousands of hits then costs tens of milliseconds. NULL when no position lies
// beyond last_position (the document is small: it is ranked itself). Built from the document, not
// by parsing the text a second time. Plain Postgres data handling: no C++ object is involved.
#include "pg/boundary.hpp"

extern "C" {
#include "tsearch/ts_type.h"
}

PLANE_SQL_FUNCTION(plane_tsvector_head) {
  TSVector in = PG_GETARG_TSVECTOR(0);
  const int32 last = PG_GETARG_INT32(1);
  WordEntry* entries = ARRPTR(in);

  // Pass 1: which entries stay, and whether anything is cut at all.
  int kept_entries = 0;
  bool cut = false;
  for (int i = 0; i < in->size; ++i) {
    const WordEntry* e = &entries[i];
    if (!e->haspos) {
      ++kept_entries;  // a lexeme without positions (a stripped vector) is kept as it is
      continue;
    }
    const int npos = POSDATALEN(in, e);
    const WordEntryPos* pos = POSDATAPTR(in, e);
    int kept = 0;
    while (kept < npos && WEP_GETPOS(pos[kept]) <= last) ++kept;
    if (kept < npos) cut = true;
    if (kept > 0) ++kept_entries;
  }
  if (!cut) PG_RETURN_NULL();

  // Pass 2: the same layout as the input (lexeme, then at a short-aligned offset the position
  // count and positions). No larger than the input but for alignment: at most one byte per entry.
  TSVector out = static_cast<TSVector>(palloc0(VARSIZE(in) + in->size));
  out->size = kept_entries;
  WordEntry* out_entries = ARRPTR(out);
  char* out_str = STRPTR(out);
  int offset = 0;
  int k = 0;
  for (int i = 0; i < in->size; ++i) {
    const WordEntry* e = &entries[i];
    int kept = 0;
    if (e->haspos) {
      const int npos = POSDATALEN(in, e);
      const WordEntryPos* pos = POSDATAPTR(in, e);
      while (kept < npos && WEP_GETPOS(pos[kept]) <= last) ++kept;
      if (kept == 0) continue;
    }
    WordEntry* o = &out_entries[k++];
    o->len = e->len;
    o->pos = offset;
    memcpy(out_str + offset, STRPTR(in) + e->pos, e->len);
    offset += e->len;
    o->haspos = e->haspos;
    if (e->haspos) {
      offset = SHORTALIGN(offset);
      const uint16 npos = static_cast<uint16>(kept);
      memcpy(out_str + offset, &npos, sizeof(uint16));
      offset += sizeof(uint16);
      memcpy(out_str + offset, POSDATAPTR(in, e), kept * sizeof(WordEntryPos));
      offset += kept * sizeof(WordEntryPos);
    }
  }
  SET_VARSIZE(out, CALCDATASIZE(kept_entries, offset));
  PG_RETURN_TSVECTOR(out);
}
