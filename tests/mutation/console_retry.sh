#!/usr/bin/env bash
# By hand, not part of `make test`: shows that browser.console
# (tests/browser/console_test.py) catches a broken retry button. Copies the
# working tree to MUTANT_DIR, makes the page send the retry with the wrong
# method (`api("POST", jobPath(id) + "/" + verb)` sends PUT when verb is
# "retry"; cancel keeps POST), builds the binary, whose page is embedded at
# build time, in BUILD_DIR and runs the browser test, which must fail.
#
# Usage: console_retry.sh [MUTANT_DIR] [BUILD_DIR]   (defaults /tmp/mut_console, /tmp/b_mut_console)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mutant=${1:-/tmp/mut_console}
build=${2:-/tmp/b_mut_console}
mkdir -p "$mutant" "$build"
(cd "$root" && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
  tar -xf - -C "$mutant"
file="$mutant/src/admin/page/app.js"
request='await api("POST", jobPath(id) + "/" + verb);'
grep -qF "$request" "$file" || { echo "the retry request is not where this script expects it: $file"; exit 2; }
python3 - "$file" "$request" <<'PY'
import sys
path, request = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(text.replace(request, 'await api(verb === "retry" ? "PUT" : "POST", jobPath(id) + "/" + verb);', 1))
PY
echo "mutant: $(cd "$mutant" && grep -n 'jobPath(id) + "/" + verb' src/admin/page/app.js)"
cmake -S "$mutant" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build "$build" -j2 --target personaworlds >"$build/mutant-build.log" 2>&1 ||
  { tail -n 20 "$build/mutant-build.log"; echo "the mutant did not build"; exit 2; }
grep -qF 'verb === "retry" ? "PUT"' "$build/generated/embedded_assets.cpp" ||
  { echo "the mutant page is not the one embedded"; exit 2; }
status=0
/usr/bin/python3 "$mutant/tests/browser/console_test.py" "$build/personaworlds" "$build/screenshots" || status=$?
if [[ $status == 0 ]]; then
  echo "MUTANT SURVIVED: the browser test passed with a broken retry request"
  exit 1
fi
if [[ $status == 77 ]]; then
  echo "the browser test was skipped (no Chromium): nothing shown"
  exit 2
fi
echo "mutant killed: the browser test fails when the retry button's request is broken"
