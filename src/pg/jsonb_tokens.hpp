// jsonb values handed to the core without a round trip through text: flattened into the core's
// JsonToken stream (core/json_tokens.hpp) in Postgres memory, then built by the core in C++.
#pragma once

#include "core/json_tokens.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace plane::pg {

struct JsonbTokens {
  plane::JsonToken* tokens;  // palloc'd in the memory context current at the call
  std::size_t count;
};

// Flattens a jsonb value (already detoasted). Strings point into `jb`, numbers into palloc'd text:
// the tokens live as long as `jb` and the current memory context. C-level: call inside pg_call.
JsonbTokens flatten_jsonb(Jsonb* jb) noexcept;

}  // namespace plane::pg
