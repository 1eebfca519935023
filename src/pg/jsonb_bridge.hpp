// The one route of a jsonb value into C++ and the one route back, for every SQL function that takes
// or returns jsonb: in, the value is flattened into tokens (jsonb_tokens.hpp) and built by the core;
// out, the document is pushed into Postgres's jsonb builder (json_to_jsonb.hpp). No JSON text in
// between either way (rendering and parsing it again cost more than the work done with it).
#pragma once

#include <nlohmann/json.hpp>

#include "pg/pg_prelude.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace plane::pg {

// The document of a (detoasted) jsonb value. Throws PgError or PlaneError.
nlohmann::json json_from_jsonb(Jsonb* jb);

// The document as a jsonb Datum in the current memory context. An object or an array; any other
// value is wrapped as the builder requires. Throws PgError.
Datum jsonb_datum(const nlohmann::json& doc);

}  // namespace plane::pg
