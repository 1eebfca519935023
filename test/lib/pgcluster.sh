#!/usr/bin/env bash
# Starts and stops throwaway Postgres clusters for tests, demos and benchmarks.
# Postgres refuses to run as root: the cluster runs as an unprivileged OS user (PLANE_PG_USER,
# default "postgres"), on a private port and socket directory, and is stopped by pgcluster_stop
# (callers install a trap so that it happens even on failure).
#
#   source test/lib/pgcluster.sh
#   pgcluster_start DIR PORT [extra postgresql.conf lines...]   # exports PGHOST PGPORT PGUSER
#   pgcluster_stop DIR

PG_BINDIR=${PG_BINDIR:-$(pg_config --bindir)}
PLANE_PG_USER=${PLANE_PG_USER:-postgres}

_pg_as_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PLANE_PG_USER" -- "$@"
  else
    "$@"
  fi
}

pgcluster_start() {
  local dir=$1 port=$2
  shift 2
  if [ "$(id -u)" = 0 ] && ! id "$PLANE_PG_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$PLANE_PG_USER"
  fi
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown "$PLANE_PG_USER" "$dir"
  _pg_as_user "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
  {
    echo "port = $port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir'"
    echo "fsync = off"
    echo "max_worker_processes = 16"
    echo "logging_collector = off"
    echo "log_min_messages = log"
    echo "log_line_prefix = '%m [%p] %b '"
    for line in "$@"; do echo "$line"; done
  } | _pg_as_user tee -a "$dir/data/postgresql.conf" >/dev/null
  # PLANE_SERVER_WRAPPER: an executable that runs postgres with its arguments, e.g. under valgrind
  # (scripts/valgrind-integration.sh); pg_ctl starts it instead of postgres.
  local wrapper=()
  [ -n "${PLANE_SERVER_WRAPPER:-}" ] && wrapper=(-p "$PLANE_SERVER_WRAPPER")
  _pg_as_user "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 300 "${wrapper[@]}" start >/dev/null \
    || { cat "$dir/server.log"; return 1; }
  export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

pgcluster_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  _pg_as_user "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
    || _pg_as_user "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}

# A free TCP port number (Postgres uses it only for its socket file name when listen_addresses='').
pgcluster_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
