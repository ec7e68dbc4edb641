#!/usr/bin/env bash
# By hand, not part of `make test`: shows that e2e.multihost.partition
# (tests/e2e/multihost.sh) catches a settle without its claim guard. Copies
# the working tree to MUTANT_DIR, removes the guard from PostgreSQL's
# completion (`WHERE j.id = done.id AND j.claim = done.claim AND j.state =
# 'running' AND j.lease_owner = $5` becomes `WHERE j.id = done.id AND
# $5::text IS NOT NULL`: the owner stays a parameter, so the prepared
# statement still binds, and every completion applies), builds the binary in
# BUILD_DIR and runs the partition scenario, which must fail.
#
# Usage: settle_guard.sh [MUTANT_DIR] [BUILD_DIR]   (as root; defaults /tmp/mut, /tmp/b_mut)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mutant=${1:-/tmp/mut}
build=${2:-/tmp/b_mut}
mkdir -p "$mutant"
(cd "$root" && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
  tar -xf - -C "$mutant"
file="$mutant/src/queue/postgres_job_queue.cpp"
guard="WHERE j.id = done.id AND j.claim = done.claim AND j.state = 'running' AND j.lease_owner = \$5 "
grep -qF "$guard" "$file" || { echo "the guarded completion is not where this script expects it: $file"; exit 2; }
python3 - "$file" "$guard" <<'PY'
import sys
path, guard = sys.argv[1], sys.argv[2]
text = open(path).read()
open(path, "w").write(text.replace(guard, "WHERE j.id = done.id AND $5::text IS NOT NULL ", 1))
PY
echo "mutant: $(cd "$mutant" && grep -n 'WHERE j.id = done.id' src/queue/postgres_job_queue.cpp)"
cmake -S "$mutant" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build "$build" -j2 --target personaworlds >"$build/mutant-build.log" 2>&1 ||
  { tail -n 20 "$build/mutant-build.log"; echo "the mutant did not build"; exit 2; }
if bash "$mutant/tests/e2e/multihost.sh" partition "$build/personaworlds"; then
  echo "MUTANT SURVIVED: the partition test passed without the settle guard"
  exit 1
fi
echo "mutant killed: the partition test fails without the settle guard"
