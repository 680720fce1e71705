#!/usr/bin/env bash
# with_cluster.sh CMD [ARGS]... [-- CMD2 [ARGS]...]: starts a throw-away
# PostgreSQL cluster (tests/pg/cluster.sh), runs each command with
# FIELDSYNC_TEST_PG_URL naming its database, and stops the cluster whatever
# happens. Fails (never skips) when PostgreSQL is missing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fs-pg.XXXXXX")
trap '"$here/cluster.sh" stop "$work/pg"; rm -rf "$work"' EXIT
url=$("$here/cluster.sh" start "$work/pg") || exit 1
export FIELDSYNC_TEST_PG_URL="$url"
status=0
cmd=()
for a in "$@" --; do
    if [ "$a" = -- ]; then
        if [ ${#cmd[@]} -gt 0 ]; then
            echo "==> ${cmd[*]##*/}"
            "${cmd[@]}" || status=1
        fi
        cmd=()
    else
        cmd+=("$a")
    fi
done
exit $status
