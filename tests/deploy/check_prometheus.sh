#!/usr/bin/env bash
# Checks deploy/prometheus: the config and rules load in promtool, the alert
# unit tests pass, every alert has a firing and a quiet unit test, and every
# alert carries a severity, a summary, a description and a `for`.
#
# Usage: check_prometheus.sh [--no-self-test] [REPO_ROOT]
# Needs: promtool, awk.

# PromQL, jq and $-placeholders below are literal on purpose; run_checks also runs
# in subshells (self-test), where its counters are meant to stay local.
# shellcheck disable=SC2016,SC2030,SC2031
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Alert names declared in a rules file, one a line.
alert_names() {
  awk '/^[[:space:]]*-[[:space:]]*alert:/ { sub(/^[^:]*:[[:space:]]*/, ""); sub(/[[:space:]]+$/, ""); print }' "$1"
}

# For each alert of a rules file: "NAME for=0|1 severity=0|1 summary=0|1 description=0|1".
# A rule block runs from its `- alert:` line to the next rule or group.
alert_fields() {
  awk '
    function flush() { if (name != "") printf "%s for=%d severity=%d summary=%d description=%d\n", name, f, sev, sum, desc }
    /^[[:space:]]*-[[:space:]]*alert:/ { flush(); name = $0; sub(/^[^:]*:[[:space:]]*/, "", name); sub(/[[:space:]]+$/, "", name); f = sev = sum = desc = 0; next }
    /^[[:space:]]*-[[:space:]]*(name|record):/ { flush(); name = "" }
    name != "" && /^[[:space:]]+for:[[:space:]]*[0-9]+[smhdwy]/ { f = 1 }
    name != "" && /^[[:space:]]+severity:[[:space:]]*[a-z]+/ { sev = 1 }
    name != "" && /^[[:space:]]+summary:[[:space:]]*[^[:space:]]/ { sum = 1 }
    name != "" && /^[[:space:]]+description:[[:space:]]*[^[:space:]]/ { desc = 1 }
    END { flush() }
  ' "$1"
}

# Cases of a promtool test file: "NAME firing" or "NAME quiet", one per
# alert_rule_test entry. A firing case is `exp_alerts:` followed by a list
# item; a quiet case is `exp_alerts: []`. Anything else counts as neither.
test_cases() {
  awk '
    /^[[:space:]]*(-[[:space:]]*)?alertname:/ { name = $0; sub(/^[^:]*:[[:space:]]*/, "", name); sub(/[[:space:]]+$/, "", name); pending = 0; next }
    /^[[:space:]]*exp_alerts:[[:space:]]*\[[[:space:]]*\][[:space:]]*$/ { if (name != "") print name, "quiet"; name = ""; next }
    /^[[:space:]]*exp_alerts:[[:space:]]*$/ { pending = (name != ""); next }
    /^[[:space:]]*(#.*)?$/ { next }
    pending { if ($0 ~ /^[[:space:]]*-[[:space:]]*exp_(labels|annotations):/) print name, "firing"; pending = 0; name = "" }
  ' "$1"
}

run_checks() {
  local dir=$1/deploy/prometheus before=$PW_FAILED name fields cases
  check "promtool check config prometheus.yml (and the rule files it names)" \
    promtool check config "$dir/prometheus.yml"
  check "promtool check rules alerts.yml" promtool check rules "$dir/alerts.yml"
  check "promtool test rules alerts.test.yml" promtool test rules "$dir/alerts.test.yml"

  # The scrape jobs give the `job` label that the alerts and the dashboard use.
  local job target
  for job in backend:backend:8080 worker:worker:9091; do
    target=${job#*:}; job=${job%%:*}
    if grep -Eq "^[[:space:]]*-[[:space:]]*job_name:[[:space:]]*['\"]?${job}['\"]?[[:space:]]*$" "$dir/prometheus.yml" \
       && grep -Fq "\"$target\"" "$dir/prometheus.yml"; then
      pass "prometheus.yml scrapes job \"$job\" at $target"
    else
      fail "prometheus.yml has no scrape job \"$job\" with target \"$target\""
    fi
  done

  local names
  names=$(alert_names "$dir/alerts.yml")
  if [[ -z $names ]]; then
    fail "alerts.yml declares no alert"
    [[ $PW_FAILED == "$before" ]]
    return
  fi
  fields=$(alert_fields "$dir/alerts.yml")
  cases=$(test_cases "$dir/alerts.test.yml")
  for name in $names; do
    if grep -Fxq "$name for=1 severity=1 summary=1 description=1" <<<"$fields"; then
      pass "$name has for, labels.severity, annotations summary and description"
    else
      fail "$name lacks one of for / severity / summary / description: $(grep -F "$name " <<<"$fields")"
    fi
    if grep -Fxq "$name firing" <<<"$cases"; then
      pass "$name has a unit test in which it fires"
    else
      fail "$name has no unit test in which it fires (alerts.test.yml)"
    fi
    if grep -Fxq "$name quiet" <<<"$cases"; then
      pass "$name has a unit test in which it stays quiet"
    else
      fail "$name has no unit test in which it stays quiet (exp_alerts: [])"
    fi
  done
  [[ $PW_FAILED == "$before" ]]
}

self_test() {
  local files=(deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml deploy/prometheus/alerts.test.yml)
  local d

  scratch_copy "${files[@]}"; d=$SCRATCH
  sed -i 's/ > 0\.5$/ > 5/' "$d/deploy/prometheus/alerts.yml"
  expect_failure "a changed latency threshold (unit test)" "$d"

  scratch_copy "${files[@]}"; d=$SCRATCH
  sed -i 's/job_name: worker/job_name: workers/' "$d/deploy/prometheus/prometheus.yml"
  expect_failure "a renamed scrape job" "$d"

  scratch_copy "${files[@]}"; d=$SCRATCH
  printf 'this: [is not yaml\n' >>"$d/deploy/prometheus/alerts.yml"
  expect_failure "a rules file that does not parse" "$d"

  scratch_copy "${files[@]}"; d=$SCRATCH
  sed -i '0,/severity: warning/{/severity: warning/d}' "$d/deploy/prometheus/alerts.yml"
  sed -i '0,/severity: warning/{/severity: warning/d}' "$d/deploy/prometheus/alerts.test.yml"
  expect_failure "an alert without a severity label" "$d"

  # A new alert with no tests at all: promtool is happy, the coverage check is not.
  scratch_copy "${files[@]}"; d=$SCRATCH
  cat >>"$d/deploy/prometheus/alerts.yml" <<'RULE'
      - alert: SelfTestUntested
        expr: vector(1) > 2
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: s
          description: d
RULE
  expect_failure "an alert with no unit test" "$d"

  # Tested only where it stays quiet.
  cat >>"$d/deploy/prometheus/alerts.test.yml" <<'CASE'
  - name: self-test quiet case
    interval: 1m
    input_series: []
    alert_rule_test:
      - eval_time: 1m
        alertname: SelfTestUntested
        exp_alerts: []
CASE
  expect_failure "an alert with no firing unit test" "$d"

  # Tested only where it fires.
  scratch_copy "${files[@]}"; d=$SCRATCH
  cat >>"$d/deploy/prometheus/alerts.yml" <<'RULE'
      - alert: SelfTestAlwaysFires
        expr: vector(1)
        for: 0m
        labels:
          severity: warning
        annotations:
          summary: s
          description: d
RULE
  cat >>"$d/deploy/prometheus/alerts.test.yml" <<'CASE'
  - name: self-test firing case
    interval: 1m
    input_series: []
    alert_rule_test:
      - eval_time: 1m
        alertname: SelfTestAlwaysFires
        exp_alerts:
          - exp_labels:
              severity: warning
            exp_annotations:
              summary: s
              description: d
CASE
  expect_failure "an alert with no quiet unit test" "$d"
}

parse_args "$@"
require_tools promtool awk grep sed
echo "# deploy/prometheus in $ROOT"
run_checks "$ROOT"
if [[ $SELF_TEST == 1 ]]; then
  echo "# self-test: each mutation below must be caught"
  self_test
fi
finish
