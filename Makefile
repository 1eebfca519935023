# PGXS build of the plane_connector extension.
#   make              build plane_connector.so (and LLVM bitcode, as Debian's Postgres is built --with-llvm)
#   make install      install library, control file and scripts
#   make installcheck run the pg_regress suite against a running server (PGPORT/PGHOST as usual)
# The plain-C++ core is also built on its own by CMake (CMakeLists.txt) for the unit tests.

EXTENSION_NAME = plane_connector
MODULE_big     = plane_connector
MODULEDIR      = extension

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS   = $(sort $(wildcard src/pg/*.cpp))
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

DATA = control/plane_connector.control $(sort $(wildcard control/plane_connector--*.sql)) \
       $(wildcard control/plane_connector--*.control)

REGRESS      = setup boundary schema installations privileges mirror_columns search_analytics
REGRESS_OPTS = --inputdir=. --outputdir=build/regress

PG_CONFIG ?= pg_config

# One set of C++ flags for both compilations: g++ for the shared library and clang for the
# bitcode that PGXS emits for JIT inlining (it ignores PG_CXXFLAGS, so extend BITCODE_CXXFLAGS).
PLANE_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fPIC
# CI builds with PLANE_WERROR=1: a warning fails the build (not for users, whose newer compilers
# may warn about things this one does not).
ifdef PLANE_WERROR
PLANE_CXXFLAGS += -Werror
endif
# simdjson's flags from pkg-config: its headers must see the macros its library was built with
# (SIMDJSON_THREADS_ENABLED changes the parser's layout). libxml2's HTML parser turns Plane's HTML
# into text (src/core/html_text.cpp); the server links the same libxml2 for its xml type.
PG_CPPFLAGS    = -Isrc $(shell pkg-config --cflags simdjson libxml-2.0)
PG_CXXFLAGS    = $(PLANE_CXXFLAGS) -Wno-register
SHLIB_LINK     = -lcurl -lcrypto -lmicrohttpd $(shell pkg-config --libs simdjson libxml-2.0) -lstdc++

# Object files depend on the headers they include (gcc -MMD, PGXS's own mechanism): without it a
# change to a header such as src/core/mirror_schema.hpp left stale objects in an incremental build.
override autodepend := yes

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

override BITCODE_CXXFLAGS += $(PLANE_CXXFLAGS) -Wno-register -Wno-unknown-warning-option
# PGXS adds the C-only -Wdeclaration-after-statement etc. to CFLAGS; C++ uses CXXFLAGS only.

build/regress:
	mkdir -p $@
installcheck: | build/regress

.PHONY: unit
unit:
	cmake -S . -B build/cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/cmake -j2
	cd build/cmake && ctest --output-on-failure
