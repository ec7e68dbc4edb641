#!/usr/bin/env bash
# Every doctest case registered with ctest runs as `binary --test-case=NAME`.
# doctest passes when a filter matches nothing, so a name that ctest or
# doctest mangles (a `;`, a `\`, a wildcard) would turn its test into one
# that cannot fail. This check asks each registered command which cases it
# selects and fails unless it is exactly one.
# Usage: check_test_filters.sh BUILD_DIR
set -euo pipefail
cd "$1"
commands="$(ctest -N -V 2>/dev/null | sed -n 's/^.*Test command: //p' | grep -E '/pw_(unit|e2e)_tests ')"
checked=0
failed=0
while IFS= read -r command; do
  [[ -z "$command" ]] && continue
  checked=$((checked + 1))
  selected="$(eval "$command --list-test-cases" 2>&1 | sed -n 's/.*unskipped test cases passing the current filters: //p')"
  if [[ "$selected" != 1 ]]; then
    echo "selects ${selected:-no} test cases, not 1: $command"
    failed=$((failed + 1))
  fi
done <<<"$commands"
echo "$checked registered doctest commands checked, $failed wrong"
[[ "$checked" -gt 0 && "$failed" -eq 0 ]]
