// Marker header for the plain-C++ core: every .cpp under src/core includes it first.
// The core must never see Postgres headers (the core knows nothing of Postgres),
// so that a Plane quirk is fixed and unit-tested in one place without a database.
#pragma once
#ifdef POSTGRES_H
#error "src/core must not include Postgres headers"
#endif
