// A parsed JSON document stored as jsonb without a round trip through text: the document is pushed
// into Postgres's jsonb builder as it is (keys sorted and de-duplicated by the builder, numbers read
// from their JSON text by numeric_in, as jsonb_in would). For the sync's raw objects, which were
// serialised by nlohmann only to be lexed again by jsonb_in.
#pragma once

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"
#include "core/parsed_json.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace plane::pg {

// The object or array as jsonb, in the current memory context. ERRORs like jsonb_in on what jsonb
// cannot hold (a string with \u0000). C-level: call inside pg_call; the document must be an object
// or an array no deeper than it was allowed to be parsed.
Jsonb* jsonb_from_json(const nlohmann::json& doc) noexcept;

// The same for an element of a parsed page (the sync's work items): the jsonb that
// jsonb_from_json(to_json(element)) builds, without the nlohmann copy.
Jsonb* jsonb_from_parsed(plane::JsonElement element) noexcept;

// The same for a token stream (a queued webhook's REST-shaped object): numbers from their text
// as numeric_in reads it, as jsonb_in would.
Jsonb* jsonb_from_tokens(const plane::JsonToken* tokens, std::size_t count) noexcept;

}  // namespace plane::pg
