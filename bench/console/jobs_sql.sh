#!/usr/bin/env bash
# Prints the SQL that fills an already migrated, empty jobs table with COUNT
# jobs in one INSERT ... SELECT (no client round trip per row):
#   jobs_sql.sh sqlite|postgres COUNT NOW_MS
# Rows come from a recursive CTE (SQLite) or generate_series (PostgreSQL);
# every value is a function of the row number, so both databases get the
# same jobs and a rerun the same table. The mix, by two multiplicative
# hashes of the id so that state, type and error text are not correlated:
#   90% succeeded (3% of them with an earlier failed attempt's error kept),
#   5% dead (one of 12 error texts, with numbers in them, one over 300
#   characters), 3% queued (a fifth retrying with an error, a tenth scheduled
#   into the next hours), 1% running (4 lease owners, leases expiring within
#   30 s), 1% canceled; 20 types, skewed (the most common about 13%, the
#   rarest 0.25%); 85% with a trace id (32 hex digits) and a user;
#   created_at evenly over the 7 days before NOW_MS - 60 s, in id order as
#   the product assigns them; started_at / finished_at / updated_at from
#   the state (finished ones finish a few seconds after creation).
set -euo pipefail

dialect="${1:?usage: jobs_sql.sh sqlite|postgres COUNT NOW_MS}"
count="${2:?count}"
now="${3:?now in ms}"
span=$((7 * 24 * 3600 * 1000))
start=$((now - span - 60000))

case "$dialect" in
  sqlite)
    series="WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $count)"
    from="s"
    # The CTE already yields rows in order; a sort would only cost time.
    order=""
    hex8() { echo "printf('%08x', $1)"; }
    ;;
  postgres)
    series="WITH s(i) AS (SELECT generate_series(1, $count)::bigint)"
    from="s"
    # Rows stored in id order, as a table filled by enqueues over time is.
    order="ORDER BY i"
    hex8() { echo "lpad(to_hex($1), 8, '0')"; }
    ;;
  *) echo "jobs_sql.sh: unknown dialect $dialect" >&2; exit 2 ;;
esac

trace="$(hex8 h) || $(hex8 g) || $(hex8 i) || $(hex8 "((h + g) % 4294967296)")"

cat <<SQL
INSERT INTO jobs (id, type, payload, trace_id, user_id, priority, state, attempts, max_attempts, run_at,
                  lease_owner, lease_expires_at, last_error, result, idempotency_key, created_at, updated_at,
                  started_at, finished_at, claim)
$series,
types(n, name) AS (VALUES
  (0, 'webhook.deliver'), (1, 'world.simulate'), (2, 'persona.generate'), (3, 'email.send'),
  (4, 'notification.push'), (5, 'image.thumbnail'), (6, 'search.index'), (7, 'world.purge'),
  (8, 'report.daily'), (9, 'billing.invoice'), (10, 'image.moderate'), (11, 'email.digest'),
  (12, 'notification.sms'), (13, 'cache.warm'), (14, 'search.reindex'), (15, 'billing.charge'),
  (16, 'report.export'), (17, 'audit.archive'), (18, 'import.csv'), (19, 'export.archive')),
b AS (
  SELECT i, h, g,
         $start + (i - 1) * $span / $count AS created,
         h % 1000 AS sr,
         ((g % 20) * ((g / 20) % 20)) / 19 AS tn,
         (g / 400) % 12 AS ek,
         (h / 1000) % 997 AS ev,
         (g / 4800) % 100 AS luck,
         20 + (h / 1000000) % 3000 AS dur,
         (g / 480000) % 2000 AS waited
  FROM (SELECT i, (i * 2654435761) % 4294967296 AS h, (i * 2246822519 + 374761393) % 4294967296 AS g FROM $from) AS x
),
c AS (
  SELECT b.*, types.name AS type,
         CASE WHEN sr < 900 THEN 'succeeded' WHEN sr < 950 THEN 'dead' WHEN sr < 980 THEN 'queued'
              WHEN sr < 990 THEN 'running' ELSE 'canceled' END AS state,
         CASE WHEN tn % 5 = 4 THEN 3 ELSE 10 END AS max_attempts,
         CASE ek
           WHEN 0 THEN 'webhook: POST https://hooks.example.net/pw/' || ev || ' answered 503 Service Unavailable'
           WHEN 1 THEN 'timed out after 30000 ms waiting for a response from upstream'
           WHEN 2 THEN 'world ' || ev || ' not found (deleted while the job was queued)'
           WHEN 3 THEN 'invalid payload: field "ticks" must be between 1 and 10000, got ' || (ev * 13 + 10001)
           WHEN 4 THEN 'connection reset by peer while reading the response body (' || (ev * 31) || ' bytes read)'
           WHEN 5 THEN 'rate limited: 429 Too Many Requests, Retry-After: ' || (ev % 120) || ' s'
           WHEN 6 THEN 'TLS handshake with hooks.example.org failed: certificate has expired'
           WHEN 7 THEN 'lease lost: the job was taken over after its lease expired (claim ' || (ev % 9 + 1) || ')'
           WHEN 8 THEN 'database is locked (SQLITE_BUSY) after 5000 ms'
           WHEN 9 THEN 'handler threw std::bad_alloc while building ' || (ev * 1000) || ' events'
           WHEN 10 THEN 'simulation aborted at tick ' || ev || ': persona state invariant broken: '
                     || 'sociability out of range after interaction; dump follows: '
                     || '{"world":' || ev || ',"personas":[{"id":1,"sociability":101,"generosity":40},'
                     || '{"id":2,"sociability":77,"generosity":12},{"id":3,"sociability":5,"generosity":99}],'
                     || '"events_written":' || (ev * 16) || ',"max_events":' || (ev * 16 + 15) || ',"tick":' || ev
                     || ',"note":"the interaction that broke it is the last event written; rerun with the same '
                     || 'seed to reproduce it"}'
           ELSE 'timed out after 10000 ms connecting to 10.0.' || (ev % 256) || '.' || (ev / 4) || ':443'
         END AS error_text
  FROM b JOIN types ON types.n = b.tn
),
d AS (
  SELECT c.*,
         CASE state
           WHEN 'succeeded' THEN CASE WHEN luck < 3 THEN 2 + ev % 2 ELSE 1 END
           WHEN 'dead' THEN max_attempts
           WHEN 'queued' THEN CASE WHEN luck < 20 THEN 1 ELSE 0 END
           WHEN 'running' THEN 1 + ev % 2
           ELSE CASE WHEN luck < 50 THEN 1 ELSE 0 END
         END AS attempts,
         CASE WHEN state = 'running' THEN $now - h % 60000
              WHEN state = 'queued' THEN CASE WHEN luck < 20 THEN created + waited ELSE NULL END
              WHEN state = 'canceled' THEN CASE WHEN luck < 50 THEN created + waited ELSE NULL END
              ELSE created + waited END AS started,
         CASE WHEN state = 'succeeded' OR state = 'dead' THEN created + waited + dur
              WHEN state = 'canceled' THEN created + waited + dur / 2
              ELSE NULL END AS finished
  FROM c
)
SELECT i, type,
       '{"world_id":' || (i % 5000 + 1) || ',"seq":' || i || ',"ticks":' || (ev % 100 + 1) || '}',
       CASE WHEN luck % 20 < 17 THEN $trace ELSE NULL END,
       CASE WHEN luck % 20 < 17 THEN i % 3000 + 1 ELSE NULL END,
       CASE WHEN tn = 3 THEN 5 ELSE 0 END,
       state, attempts, max_attempts,
       CASE WHEN state = 'queued' AND luck >= 90 THEN $now + (ev + 1) * 20000 ELSE created END,
       CASE WHEN state = 'running' THEN 'bench-host-' || (ev % 4 + 1) || ':' || (4200 + ev % 4) || ':5e1f0' || (ev % 4)
            WHEN state = 'succeeded' OR state = 'dead' THEN 'bench-host-' || (ev % 6 + 1) || ':' || (4200 + ev % 6) || ':5e1f0' || (ev % 6)
            ELSE NULL END,
       CASE WHEN state = 'running' THEN $now + 30000 - h % 30000 ELSE NULL END,
       CASE WHEN state = 'dead' THEN error_text
            WHEN state = 'succeeded' AND luck < 3 THEN error_text
            WHEN (state = 'queued' OR state = 'running') AND attempts > 1 THEN error_text
            WHEN state = 'queued' AND luck < 20 THEN error_text
            ELSE NULL END,
       CASE WHEN state = 'succeeded' THEN '{"ok":true,"ms":' || dur || '}' ELSE NULL END,
       NULL,
       created,
       COALESCE(finished, started, created),
       started, finished, attempts
FROM d
$order;
SQL
