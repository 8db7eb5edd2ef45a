#!/usr/bin/env bash
# Start (or reuse) a throw-away PostgreSQL server on loopback for the test-suite and benchmarks.
# Prints the admin URL on stdout. Data lives in $CONTIMG_PG_DIR (default /tmp/contimg-pg-<port>).
# $CONTIMG_PG_OPTIONS: further server options for a server started here (e.g. the scale
# benchmark's "-c shared_buffers=6144MB"); a running server is reused as it is.
set -euo pipefail
PORT="${CONTIMG_PG_PORT:-54329}"
DIR="${CONTIMG_PG_DIR:-/tmp/contimg-pg-$PORT}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$BIN" ] || { echo "PostgreSQL is not installed (run scripts/system-deps.sh)" >&2; exit 1; }
URL="postgresql+psycopg://contimg@127.0.0.1:$PORT/postgres"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
  echo "$URL"; exit 0
fi
if [ ! -f "$DIR/PG_VERSION" ]; then
  mkdir -p "$DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
  as_pg "$BIN/initdb" -D "$DIR" -U contimg --auth=trust -E UTF8 >/dev/null
fi
as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${CONTIMG_PG_OPTIONS:-}" \
  start >/dev/null
echo "$URL"
