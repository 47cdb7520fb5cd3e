#!/usr/bin/env bash
# Installs redis-server from the Debian packages if missing and checks it starts on a free
# 127.0.0.1 port. Tests start (and restart) their own redis-server processes from the binary
# this prints as an export:
#   eval "$(scripts/ci/start-redis.sh)"   # sets CHATBOT_TEST_REDIS_SERVER
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq redis-server >&2
fi
BIN=$(command -v redis-server)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
PID=$!
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  sleep 0.1
done
kill "$PID"; wait "$PID" 2>/dev/null || true
echo "export CHATBOT_TEST_REDIS_SERVER=$BIN"
