#!/usr/bin/env bash
# The main job, end to end, on a fresh machine:
#   installs what is missing, builds and installs plane_connector, starts a private Postgres with
#   the library preloaded, and mirrors a Plane workspace into work_plane.*, then prints what landed.
#
# Without settings it mirrors a seeded workspace from the bundled Plane simulator (loopback only).
# With PLANE_API_KEY and PLANE_WORKSPACE set it mirrors that real workspace instead
# (PLANE_API_URL defaults to https://api.plane.so). The key goes into the (fixture) Vault only.
# The cluster and simulator are stopped when the demo ends, even on failure;
# PLANE_DEMO_KEEP=1 keeps the cluster running and prints how to connect.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3

bash scripts/install-deps.sh
echo "== building and installing plane_connector"
make -s -j2 >/dev/null
make -s install >/dev/null

WORK=$(mktemp -d /tmp/plane_demo.XXXXXX)
chmod 755 "$WORK"
SIM_PID=""
source test/lib/pgcluster.sh
cleanup() {
  if [ "${PLANE_DEMO_KEEP:-0}" != 1 ]; then
    pgcluster_stop "$WORK/pg"
    rm -rf "$WORK"
  fi
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
}
trap cleanup EXIT

if [ -n "${PLANE_API_KEY:-}" ] && [ -n "${PLANE_WORKSPACE:-}" ]; then
  SLUG=$PLANE_WORKSPACE
  API_URL=${PLANE_API_URL:-https://api.plane.so}
  RATE=60
  # Credentials go only to the hosts plane.allowed_hosts lists: Plane Cloud, and this one.
  API_HOST=$(sed -E 's#^[a-z]+://([^/:]+).*#\1#' <<<"$API_URL")
  ALLOWED_HOSTS="api.plane.so, mcp.plane.so, $API_HOST"
  echo "== mirroring the real Plane workspace '$SLUG' from $API_URL"
else
  SLUG=acme
  RATE=0
  ALLOWED_HOSTS="127.0.0.1"  # the simulator, on loopback
  echo "== starting the local Plane simulator with a seeded workspace '$SLUG'"
  $PY test/simulator/plane_sim.py --port 0 --port-file "$WORK/sim.port" --parent-pid $$ \
    --rate-limit 0 >"$WORK/sim.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 100); do [ -s "$WORK/sim.port" ] && break; sleep 0.1; done
  API_URL="http://127.0.0.1:$(cat "$WORK/sim.port")"
  PLANE_API_KEY=plane_api_demo0123456789abcdef0123456789
  curl -fsS -X POST "$API_URL/_sim/seed" -H 'Content-Type: application/json' \
    -d "{\"workspace\":\"$SLUG\",\"projects\":4,\"items_per_project\":300,\"tz\":\"+05:30\",\"api_key\":\"$PLANE_API_KEY\",\"seed\":7}" >/dev/null
fi

echo "== starting a private Postgres (as user ${PLANE_PG_USER:-postgres}) with plane_connector preloaded"
pgcluster_start "$WORK/pg" "$(pgcluster_free_port)" \
  "shared_preload_libraries = 'plane_connector'" "plane.database = 'plane_demo'" \
  "plane.rate_limit_per_minute = $RATE" "plane.allowed_hosts = '$ALLOWED_HOSTS'"
createdb plane_demo
export PGDATABASE=plane_demo

# The launcher connects to plane.database, which exists only now: wait until it has.
for _ in $(seq 1 100); do
  [ -n "$(psql -X -At -c 'SELECT pid FROM pg_stat_activity WHERE backend_type = '"'plane_connector launcher'"' AND datname IS NOT NULL')" ] && break
  sleep 0.1
done
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION plane_connector CASCADE;
\i test/fixtures/vault_fixture.sql
SQL
# The key reaches psql through its environment (\getenv), never a command line (ps) or the log.
PLANE_DEMO_SECRET=$PLANE_API_KEY psql -X -q -v ON_ERROR_STOP=1 -v slug="$SLUG" -v url="$API_URL" <<'SQL'
\getenv key PLANE_DEMO_SECRET
SELECT vault.create_secret(:'key', 'plane_api_key:' || :'slug') \gset ignored_
SELECT workspace_slug, api_url FROM work_plane.add_installation(:'slug', api_url => :'url');
SQL

echo "== syncing (work_plane.sync_now returns at once; the background worker does the work)"
echo "SELECT work_plane.sync_now(:'slug')" | psql -X -q -v slug="$SLUG" >/dev/null
for _ in $(seq 1 600); do
  state=$(echo "SELECT state || ' ' || coalesce(last_success_at::text, '-') || ' ' || rows_done FROM work_plane.sync_status WHERE workspace_slug = :'slug'" | psql -X -At -v slug="$SLUG")
  case "$state" in
    idle\ 2*|failed*) break ;;
  esac
  sleep 0.5
done
psql -X -v slug="$SLUG" <<'SQL'
\echo '-- work_plane.sync_status'
SELECT workspace_slug, state, pages_done, rows_done, rows_expected, last_success_at, last_error
  FROM work_plane.sync_status;
\echo '-- what landed'
SELECT p.identifier, p.name AS project, count(i.*) AS work_items,
       min(i.plane_updated_at) AS oldest_update, max(i.plane_updated_at) AS newest_update
  FROM work_plane.projects p
  LEFT JOIN work_plane.items i ON i.workspace_slug = p.workspace_slug
       AND i.project_plane_id = p.plane_id AND i.item_type = 'issue'
 WHERE p.workspace_slug = :'slug'
 GROUP BY p.identifier, p.name ORDER BY p.identifier;
\echo '-- a few work items'
SELECT p.identifier || '-' || i.sequence_id AS key, left(i.name, 40) AS name, i.priority,
       i.plane_updated_at
  FROM work_plane.items i JOIN work_plane.projects p
       ON p.workspace_slug = i.workspace_slug AND p.plane_id = i.project_plane_id
 WHERE i.workspace_slug = :'slug'
 ORDER BY i.plane_updated_at DESC LIMIT 5;
\echo '-- the audit log'
SELECT action, plane_response_status, details->>'pages' AS pages, details->>'requests' AS requests,
       details->>'duration_ms' AS ms, details->>'error' AS error
  FROM ops.run_events WHERE workspace_slug = :'slug' ORDER BY id;
SQL
final=$(echo "SELECT state FROM work_plane.sync_status WHERE workspace_slug = :'slug'" | psql -X -At -v slug="$SLUG")
if [ "${PLANE_DEMO_KEEP:-0}" = 1 ]; then
  echo "cluster kept: psql -h $WORK/pg -p $PGPORT -U postgres plane_demo   (stop: pg_ctl -D $WORK/pg/data stop, as ${PLANE_PG_USER:-postgres})"
fi
[ "$final" = idle ]
