#!/bin/bash
# First start on an empty data directory: initdb with the superuser and
# password from the environment, then a database for PersonaWorlds. Every
# start: the server in the foreground (PID 1's child under `init: true`).
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-personaworlds}
database=${POSTGRES_DB:-personaworlds}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD is empty; refusing to create a server anyone can log in to" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # Inside the container (socket) trusted; over the network only with the
  # password.
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
# Every API replica and worker keeps its own pool: room for --scale
# backend=3 --scale worker=4 and the exporter.
max_connections = 200
CONF
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  [[ $database == postgres ]] || createdb -U "$user" -h /var/run/postgresql "$database"
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres-entrypoint: initialised $PGDATA (user $user, database $database)"
fi

exec postgres -D "$PGDATA"
