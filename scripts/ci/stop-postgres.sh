#!/usr/bin/env bash
# Stops the server scripts/ci/start-postgres.sh started in DIR and removes DIR.
set -uo pipefail
DIR=${1:?usage: stop-postgres.sh DIR}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
RUN=()
[ "$(id -u)" = 0 ] && RUN=(runuser -u postgres --)
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1
rm -rf "$DIR"
