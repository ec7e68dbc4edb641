#!/usr/bin/env bash
# The soak's database moved to PostgreSQL and read back through the API
# (issue 13). Run by bench/soak/soak.sh once its api and workers have exited;
# also runnable by hand on the database a soak left behind. Steps:
#   1. a throwaway PostgreSQL server (tests/support/postgres.sh);
#   2. `personaworlds migrate copy` from the SQLite file into it: exit 0 and
#      "copy verified" with every table's count and checksum "ok";
#   3. an api on the SQLite file and one on PostgreSQL side by side (127.0.0.1,
#      no workers, so nothing changes under the comparison), then with the
#      soak user's token the same GETs of both: /v1/me, /v1/tokens, every page
#      of /v1/worlds and, for each world, the world, every page of its
#      personas, simulations and events (following the cursors), each
#      simulation, and every job of the user still in the table. Bodies must
#      be byte-identical; the one field that changes per request is a token's
#      last_used_at (the request itself sets it), removed from /v1/tokens
#      before comparing. The request id is a header, never in a 200 body;
#   4. a new world created on PostgreSQL must get an id past every world id
#      SQLite ever handed out.
# Fails (exit 1) on any difference; the server and both apis are stopped on
# every exit. Writes a paragraph and a table for BENCHMARKS.md to OUT.
# Usage: bench/soak/copy_check.sh BUILD_DIR DB TOKEN_FILE OUT
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:?usage: copy_check.sh BUILD_DIR DB TOKEN_FILE OUT}" && pwd)"
db="$(realpath "${2:?usage: copy_check.sh BUILD_DIR DB TOKEN_FILE OUT}")"
token="$(cat "${3:?usage: copy_check.sh BUILD_DIR DB TOKEN_FILE OUT}")"
out="${4:?usage: copy_check.sh BUILD_DIR DB TOKEN_FILE OUT}"
binary="$build/personaworlds"
postgres_sh="$root/tests/support/postgres.sh"
work="$(dirname "$db")/copy"
server="$work/postgres-server"
# shellcheck source=bench/http/lib.sh
source "$root/bench/http/lib.sh"

say() { echo "copy-check: $*"; }
for tool in curl jq sqlite3 cmp; do
  command -v "$tool" >/dev/null || { echo "copy-check: $tool is required" >&2; exit 1; }
done

SQLITE_PID="" PG_PID=""
cleanup() {
  local pid
  for pid in "$SQLITE_PID" "$PG_PID"; do [[ -n "$pid" ]] && { stop_pid "$pid" || true; }; done
  bash "$postgres_sh" stop "$server" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$work"
mkdir -p "$work/sqlite" "$work/postgres"
bash "$postgres_sh" start "$server" >"$work/postgres.log" 2>&1 || { cat "$work/postgres.log" >&2; exit 1; }
url="$(cat "$server/url")"
say "$(tail -1 "$work/postgres.log")"

# The copy, its stderr timestamped: "copy: verifying" starts the second phase.
start=$EPOCHREALTIME
set +e
"$binary" migrate copy --from "sqlite:$db" --to "$url" >"$work/copy.out" \
  2> >(while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >"$work/copy.err")
copy_code=$?
set -e
end=$EPOCHREALTIME
sleep 0.2  # the timestamping loop may still be writing its last lines
# Its stdout: migrate's log lines, then the report from its header on.
sed -n '/^table  *source  *target/,$p' "$work/copy.out"
verify_start="$(awk '/ copy: verifying / {print $1; exit}' "$work/copy.err")"
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
copy_s="$(seconds "$start" "${verify_start:-$end}")"
verify_s="$( [[ -n "$verify_start" ]] && seconds "$verify_start" "$end" || echo -)"
total_s="$(seconds "$start" "$end")"
say "migrate copy exited $copy_code after $total_s s (copying $copy_s s, verifying $verify_s s)"

failures=()
[[ "$copy_code" == 0 ]] || failures+=("migrate copy exited $copy_code")
grep -q '^copy verified: ' "$work/copy.out" || failures+=("no \"copy verified\" line")
# table source target copied checksum result: every table counted the same on
# both sides and "ok".
table_rows="$(awk '/^table +source +target/ {on = 1; next} on && NF == 6 && $1 !~ /^(sequence|copy)$/' "$work/copy.out")"
[[ -n "$table_rows" ]] || failures+=("no per-table lines in the copy's output")
while read -r name source target _ _ result; do
  [[ -z "$name" ]] && continue
  [[ "$source" == "$target" && "$result" == ok ]] || failures+=("table $name: $source rows on SQLite, $target on PostgreSQL, $result")
done <<<"$table_rows"

# start_role NAME PORT_VAR PID_VAR FLAGS...: an api on a free port of 127.0.0.1.
start_role() {
  local name="$1" port_var="$2" pid_var="$3" port pid; shift 3
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    LOG_LEVEL=warn "$binary" api --host 127.0.0.1 --port "$port" "$@" >"$work/api-$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 500); do
      curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && kill -0 "$pid" 2>/dev/null &&
        { printf -v "$port_var" '%s' "$port"; printf -v "$pid_var" '%s' "$pid"; return 0; }
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
  done
  echo "copy-check: the api on $name did not start:" >&2
  cat "$work/api-$name.log" >&2
  exit 1
}

compared=0 differing=0 new_world="" last_world="-"
: >"$work/requests"
: >"$work/differences"
if [[ "$copy_code" == 0 ]]; then
  start_role sqlite SQLITE_PORT SQLITE_PID --db "$db"
  start_role postgres PG_PORT PG_PID --database-url "$url"
  say "api on SQLite :$SQLITE_PORT, api on PostgreSQL :$PG_PORT"

  # fetch PATH: GETs PATH from both apis into numbered files and prints the
  # SQLite body (for the cursors). Called in subshells, so what it finds goes
  # to files: requests (one line a GET) and differences (one line a GET that
  # differs: a non-200 on either side or bodies not byte-identical).
  fetch() {
    local n side port code bad=""
    echo "$1" >>"$work/requests"
    n=$(wc -l <"$work/requests")
    for side in sqlite postgres; do
      [[ "$side" == sqlite ]] && port=$SQLITE_PORT || port=$PG_PORT
      code="$(curl -s --max-time 30 -o "$work/$side/$n.json" -w '%{http_code}' \
        -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1" || true)"
      [[ "$code" == 200 ]] || bad+=" HTTP $code on $side"
    done
    cmp -s "$work/sqlite/$n.json" "$work/postgres/$n.json" || bad+=" bodies differ ($work/{sqlite,postgres}/$n.json)"
    if [[ -n "$bad" ]]; then
      echo "GET $1:$bad" >>"$work/differences"
      if (($(wc -l <"$work/differences") <= 3)); then
        echo "copy-check: GET $1:$bad" >&2
        diff <(jq -S . "$work/sqlite/$n.json" 2>&1) <(jq -S . "$work/postgres/$n.json" 2>&1) | head -20 >&2 || true
      fi
    fi
    cat "$work/sqlite/$n.json"
  }
  # pages PATH CURSOR_FIELD PARAM: every page of a list, following its cursor;
  # prints the ids of all items.
  pages() {
    local path="$1" field="$2" param="$3" cursor="" sep body
    [[ "$path" == *\?* ]] && sep="&" || sep="?"
    while :; do
      body="$(fetch "$path${sep}limit=100${cursor:+&$param=$cursor}")"
      jq -r '.items[].id' <<<"$body" 2>/dev/null || true
      cursor="$(jq -r --arg f "$field" '.[$f] // empty' <<<"$body" 2>/dev/null || true)"
      [[ -n "$cursor" ]] || break
    done
  }

  user_id="$(fetch /v1/me | jq -r .id)"
  # /v1/tokens: last_used_at is written by the very request that reads it.
  for side in sqlite postgres; do
    [[ "$side" == sqlite ]] && port=$SQLITE_PORT || port=$PG_PORT
    curl -sf --max-time 30 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/tokens" |
      jq -c '.items |= map(del(.last_used_at))' >"$work/$side/tokens.json" || true
  done
  echo /v1/tokens >>"$work/requests"
  if ! [[ -s "$work/sqlite/tokens.json" ]] || ! cmp -s "$work/sqlite/tokens.json" "$work/postgres/tokens.json"; then
    echo "GET /v1/tokens (without last_used_at): bodies differ" >>"$work/differences"
  fi

  mapfile -t worlds < <(pages /v1/worlds next_cursor cursor)
  personas=0 simulations=0 events=0
  for world in "${worlds[@]}"; do
    fetch "/v1/worlds/$world" >/dev/null
    personas=$((personas + $(pages "/v1/worlds/$world/personas" next_cursor cursor | grep -c . || true)))
    mapfile -t sims < <(pages "/v1/worlds/$world/simulations" next_cursor cursor)
    simulations=$((simulations + ${#sims[@]}))
    for sim in "${sims[@]}"; do fetch "/v1/worlds/$world/simulations/$sim" >/dev/null; done
    events=$((events + $(pages "/v1/worlds/$world/events" next_after after | grep -c . || true)))
  done
  mapfile -t jobs < <(sqlite3 -readonly "$db" "SELECT id FROM jobs WHERE user_id = $user_id ORDER BY id")
  for job in "${jobs[@]}"; do fetch "/v1/jobs/$job" >/dev/null; done
  compared=$(wc -l <"$work/requests") differing=$(wc -l <"$work/differences")
  while IFS= read -r line; do failures+=("$line"); done <"$work/differences"
  say "$compared GETs compared: ${#worlds[@]} worlds, $personas personas, $simulations simulations, $events events, ${#jobs[@]} jobs; $differing differ"
  ((${#worlds[@]} > 0)) || failures+=("the soak user has no worlds to compare")

  # New rows on PostgreSQL continue after every id SQLite handed out.
  last_world="$(sqlite3 -readonly "$db" "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'worlds'), 0)")"
  new_world="$(curl -s --max-time 30 -XPOST "http://127.0.0.1:$PG_PORT/v1/worlds" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"name":"after the copy","seed":1}' | jq -r '.id // empty' || true)"
  if [[ -z "$new_world" ]] || ((new_world <= last_world)); then
    failures+=("new world on PostgreSQL: id '${new_world}' (SQLite handed out up to $last_world)")
  else
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $token" "http://127.0.0.1:$PG_PORT/v1/worlds/$new_world")"
    [[ "$code" == 200 ]] || failures+=("new world $new_world on PostgreSQL: GET answered $code")
  fi
  say "new world on PostgreSQL: id ${new_world:-none} (largest SQLite world id ever: $last_world)"

  for name in SQLITE PG; do
    pid_var="${name}_PID"
    if stop_pid "${!pid_var}"; then code=0; else code=$?; fi
    printf -v "$pid_var" '%s' ""
    [[ "$code" == 0 ]] || failures+=("api on ${name} exited $code on SIGTERM")
  done
fi

{
  echo "After the traffic, bench/soak/copy_check.sh copies the soak's SQLite database into a throwaway PostgreSQL $("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/postgres" --version | awk '{print $3}') server (Unix socket, fsync off) with \`personaworlds migrate copy\` (exit $copy_code, $total_s s: copying $copy_s s, verifying $verify_s s), then starts an api on each database and compares $compared GETs of the soak user (its worlds, their personas, simulations and every page of events, its jobs still in the table): $differing differ. A world created on PostgreSQL afterwards got id ${new_world:-none}, past SQLite's last world id $last_world."
  echo
  echo "| Table | rows (SQLite) | rows (PostgreSQL) | checksum |"
  echo "|---|---:|---:|---|"
  while read -r name source target _ _ result; do
    [[ -z "$name" ]] && continue
    echo "| $name | $source | $target | $result |"
  done <<<"$table_rows"
} >"$out"

if ((${#failures[@]})); then
  printf 'copy-check: FAILED: %s\n' "${failures[@]}" >&2
  printf '%s\n' "${failures[@]}" >"$work/failures"
  exit 1
fi
say "PASSED"
