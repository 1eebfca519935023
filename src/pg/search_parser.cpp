// The text-search parser of work_plane.plane_search: Postgres's default parser, with every run of
// CJK characters it returns as one word split into one token per character (src/core/cjk.hpp).
// Declared in control/plane_connector--0.2.0.sql as
//   CREATE TEXT SEARCH PARSER work_plane.plane_parser (START = work_plane._parser_start,
//     GETTOKEN = work_plane._parser_gettoken, END = work_plane._parser_end,
//     LEXTYPES = pg_catalog.prsd_lextype, HEADLINE = pg_catalog.prsd_headline);
// Token types are the default parser's, so a configuration maps them the same way, and
// prsd_headline highlights the pieces in the original text (hlparsetext calls this parser).
#include <string_view>

#include "core/cjk.hpp"
#include "pg/boundary.hpp"

namespace {

// Token types of the default parser (prsd_lextype) whose text may hold non-ASCII letters and is
// split: word, numword, hword_part, hword_numpart. The whole of a hyphenated compound (hword,
// numhword) is left as it is: its parts are split.
bool splittable(int type) { return type == 2 || type == 3 || type == 8 || type == 9; }

// Lives in the memory context to_tsvector/ts_headline parse in; no C++ object, so nothing to
// destroy if an ERROR unwinds past it.
struct ParserState {
  Datum inner;       // the default parser's state
  const char* token; // the token being split, NULL when none
  int token_len;
  int token_type;
  int offset;        // bytes of it already returned
};

// Returns the next piece of the token being split; 0 when it is used up.
int next_piece(ParserState* state, char** token, int* token_len) noexcept {
  if (state->token == nullptr || state->offset >= state->token_len) {
    state->token = nullptr;
    return 0;
  }
  const std::string_view whole(state->token, static_cast<std::size_t>(state->token_len));
  const std::size_t end = plane::cjk_piece_end(whole, static_cast<std::size_t>(state->offset));
  *token = const_cast<char*>(state->token) + state->offset;
  *token_len = static_cast<int>(end) - state->offset;
  state->offset = static_cast<int>(end);
  return state->token_type;
}

}  // namespace

// work_plane._parser_start(internal text, int4 length) → internal
PLANE_SQL_FUNCTION(plane_parser_start) {
  auto* state = static_cast<ParserState*>(palloc0(sizeof(ParserState)));
  state->inner = DirectFunctionCall2(prsd_start, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1));
  PG_RETURN_POINTER(state);
}

// work_plane._parser_gettoken(internal state, internal char**, internal int*) → int4 token type
PLANE_SQL_FUNCTION(plane_parser_gettoken) {
  auto* state = reinterpret_cast<ParserState*>(PG_GETARG_POINTER(0));
  auto** token = reinterpret_cast<char**>(PG_GETARG_POINTER(1));
  auto* token_len = reinterpret_cast<int*>(PG_GETARG_POINTER(2));
  if (const int type = next_piece(state, token, token_len); type != 0) PG_RETURN_INT32(type);
  const int type = DatumGetInt32(DirectFunctionCall3(prsd_nexttoken, state->inner,
                                                     PointerGetDatum(token), PointerGetDatum(token_len)));
  if (type == 0 || !splittable(type) ||
      !plane::contains_cjk(std::string_view(*token, static_cast<std::size_t>(*token_len)))) {
    PG_RETURN_INT32(type);
  }
  state->token = *token;
  state->token_len = *token_len;
  state->token_type = type;
  state->offset = 0;
  PG_RETURN_INT32(next_piece(state, token, token_len));
}

// work_plane._parser_end(internal state) → void
PLANE_SQL_FUNCTION(plane_parser_end) {
  auto* state = reinterpret_cast<ParserState*>(PG_GETARG_POINTER(0));
  DirectFunctionCall1(prsd_end, state->inner);
  pfree(state);
  PG_RETURN_VOID();
}
