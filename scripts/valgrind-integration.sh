#!/usr/bin/env bash
# The integration suite's main scenarios with the server (postmaster, workers, backends) under
# valgrind memcheck. Fails when a scenario fails, or when valgrind reports an invalid access, a use
# of uninitialised memory or a definite leak whose innermost frame outside libc, libstdc++,
# libcurl and OpenSSL is plane_connector's own code. (Debian's Postgres is not built for valgrind:
# its own reports — strdup'd settings at exit, WAL padding — are counted, not judged.)
# Usage: scripts/valgrind-integration.sh [test ...]   (default: the main scenarios below)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(
  test_sync.SyncTest.test_backfill_matches_simulator_row_for_row
  test_webhooks.WebhookTest.test_v1_and_v2_deliveries_reach_the_mirror
  test_writeback.WritebackTest.test_local_edit_reaches_plane
  test_oauth.OAuthFlowTest.test_app_install_stores_tokens_in_vault_and_syncs_with_the_bot_token
  test_mcp.McpSimulatorTest
)
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

reports=$(mktemp -d /tmp/plane-valgrind.XXXXXX)
chmod 1777 "$reports"
wrapper=$reports/postgres-under-valgrind
cat >"$wrapper" <<WRAP
#!/bin/sh
# pg_ctl checks the server's version with -V: answer that one directly.
[ "\$1" = "-V" ] && exec $(pg_config --bindir)/postgres -V
exec valgrind --quiet --error-limit=no --num-callers=40 --leak-check=full \\
  --show-leak-kinds=definite --errors-for-leak-kinds=definite --child-silent-after-fork=no \\
  --log-file=$reports/vg.%p $(pg_config --bindir)/postgres "\$@"
WRAP
chmod 755 "$wrapper"

status=0
(cd test/integration && PLANE_SERVER_WRAPPER=$wrapper PLANE_TEST_TIMEOUT_SCALE=${PLANE_TEST_TIMEOUT_SCALE:-10} \
  $PY -m unittest -v "${TESTS[@]}" 2>&1) | tee "$reports/tests.log" | grep -E ' \.\.\. |^Ran |^(OK|FAILED)' || true
grep -q '^OK' "$reports/tests.log" || { status=1; grep -A30 -E '^(FAIL|ERROR):' "$reports/tests.log" | head -60; }

$PY - "$reports" src <<'PYEOF' || status=1
import glob, os, re, sys
reports, src = sys.argv[1], sys.argv[2]
ours_files = {os.path.basename(p) for p in glob.glob(f"{src}/*/*.[ch]pp")}
# Frames of the libraries between the report and the code that asked for it: skipped when
# deciding whose the report is.
library = re.compile(r"vgpreload|libc\.so|libc-|/libc/|libstdc\+\+|libcurl|libcrypto|libssl|"
                     r"libmicrohttpd|ld-linux|\((?:strdup|malloc|memcpy|[a-z_]*fileops|write|pwrite64)\.c")
def frame_is_ours(line):
    m = re.search(r"\(([^():]+\.[ch]pp):\d+\)", line)
    return "plane_connector" in line or (m is not None and m.group(1) in ours_files)
files = glob.glob(f"{reports}/vg.*")
ours, theirs = [], 0
for path in files:
    text = open(path, errors="replace").read()
    for block in re.split(r"\n==\d+== \n", text):
        lines = [re.sub(r"^==\d+== ?", "", l) for l in block.splitlines() if l.strip("= 0123456789")]
        if not lines or not re.search(r"Invalid (read|write|free)|uninitialised|Mismatched free|"
                                      r"definitely lost|overlap|Syscall param", lines[0]):
            continue
        frames = [l for l in lines[1:] if re.match(r"\s*(at|by) 0x", l)]
        first = next((f for f in frames if not library.search(f)), "")
        if frame_is_ours(first):
            ours.append((path, "\n".join(lines)))
        else:
            theirs += 1
print(f"valgrind: {len(files)} process logs; reports whose innermost non-library frame is "
      f"plane_connector's code: {len(ours)}; reports inside Postgres itself (not judged): {theirs}")
for path, block in ours[:8]:
    print(f"--- {path}\n{block[:4000]}")
sys.exit(1 if ours else 0)
PYEOF
[ "${PLANE_KEEP_TEST_DIRS:-}" = 1 ] || rm -rf "$reports"
exit $status
