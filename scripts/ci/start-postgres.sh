#!/usr/bin/env bash
# Installs PostgreSQL from the Debian packages if missing, starts a throwaway server on a free
# 127.0.0.1 port in a temp dir (as the `postgres` user when run as root: initdb and postgres
# refuse root), creates a test database, and prints shell exports for the test run:
#   eval "$(scripts/ci/start-postgres.sh)"   # sets CHATBOT_TEST_POSTGRES_URL, CHATBOT_TEST_POSTGRES_DIR
# Stop it with: scripts/ci/stop-postgres.sh "$CHATBOT_TEST_POSTGRES_DIR"
set -euo pipefail

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

if ! BIN=$(pg_bin); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql >&2
  BIN=$(pg_bin)
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d /tmp/chatbot-pg.XXXXXX)
RUN=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$DIR" postgres
  chown postgres "$DIR"
  RUN=(runuser -u postgres --)
fi
"${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >&2
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=200" start >&2
"${RUN[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres chatbot_test >&2

echo "export CHATBOT_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:$PORT/chatbot_test"
echo "export CHATBOT_TEST_POSTGRES_DIR=$DIR"
