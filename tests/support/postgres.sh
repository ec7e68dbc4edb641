#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the test run: Unix socket only (no TCP
# port but the one named below on 127.0.0.1, for the password tests), data in
# DIR, stopped and removed by `stop`. ctest starts it once as a fixture (see
# tests/CMakeLists.txt); a test binary run by hand starts it with `ensure`.
#
#   postgres.sh start DIR    initdb + start; DIR/url holds the superuser URL
#   postgres.sh ensure DIR   start unless a server already answers in DIR
#   postgres.sh stop DIR     stop (immediate) and remove DIR
#   postgres.sh restart DIR  stop (fast) and start again on the same data
#   postgres.sh halt DIR     stop (fast), keeping the data
#   postgres.sh resume DIR   start again on the same data
#
# initdb refuses to run as root, so as root the server runs as `nobody`.
# Durability is off (fsync, full_page_writes): the tests restart the server
# cleanly or kill our processes, never the machine, and speed matters more.
set -euo pipefail

command="${1:?usage: postgres.sh start|ensure|stop|restart|halt|resume DIR}"
dir="${2:?usage: postgres.sh start|ensure|stop|restart|halt|resume DIR}"

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
  echo "postgres.sh: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin); install the postgresql package (make deps)" >&2
  exit 1
fi

as_server_user() {
  if [[ "$(id -u)" == 0 ]]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
  else
    "$@"
  fi
}

pg_ctl() { as_server_user "$bindir/pg_ctl" -D "$dir/data" "$@"; }

answers() {
  [[ -f "$dir/port" ]] && "$bindir/pg_isready" -q -h "$dir" -p "$(cat "$dir/port")" -U pw 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
  # 9>&-: the server must not inherit `ensure`'s lock, or it holds it for
  # life and every later `ensure` waits forever.
  pg_ctl -l "$dir/server.log" -w -t 30 \
    -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1" start >/dev/null 9>&- ||
    { echo "postgres.sh: the server did not start; its log:" >&2; tail -n 20 "$dir/server.log" >&2; exit 1; }
}

start() {
  rm -rf "$dir"
  mkdir -p "$dir"
  [[ "$(id -u)" == 0 ]] && chown nobody:nogroup "$dir"
  free_port >"$dir/port"
  # Local (socket) connections are trusted; TCP ones need a password, so the
  # tests can check what a wrong one does.
  as_server_user "$bindir/initdb" -D "$dir/data" -U pw --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { echo "postgres.sh: initdb failed:" >&2; tail -n 20 "$dir/initdb.log" >&2; exit 1; }
  cat >>"$dir/data/postgresql.conf" <<'EOF'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 300
shared_buffers = 128MB
log_min_messages = warning
EOF
  start_server
  echo "postgresql://pw@/postgres?host=$dir&port=$(cat "$dir/port")" >"$dir/url"
  echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') up in $dir (port $(cat "$dir/port"))"
}

case "$command" in
  start) start ;;
  ensure)
    exec 9>"${dir%/}.lock"
    flock 9
    answers || start
    ;;
  stop)
    if [[ -d "$dir/data" ]]; then pg_ctl -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir" "${dir%/}.lock"
    ;;
  restart)
    pg_ctl -m fast -w stop >/dev/null
    start_server
    ;;
  halt) pg_ctl -m fast -w stop >/dev/null ;;
  resume) start_server ;;
  *) echo "postgres.sh: unknown command $command" >&2; exit 2 ;;
esac
