#!/usr/bin/env bash
# Validates docs/openapi.yaml with a real OpenAPI 3.1 validator: npm's
# @seriousme/openapi-schema-validator (pinned by package-lock.json beside
# this script) checks the document against the specification's own JSON
# schema. Debian 12 packages no OpenAPI validator. Then proves that the
# check can fail: a copy whose response lacks its required description must
# be refused.
#
# Usage: tests/openapi/check_spec.sh [SOURCE_DIR [TOOLS_DIR]]
#   TOOLS_DIR receives node_modules (default: SOURCE_DIR/build/openapi-tools).
# Needs: node and npm.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${1:-$(cd "$here/../.." && pwd)}
tools=${2:-$root/build/openapi-tools}
spec=$root/docs/openapi.yaml

mkdir -p "$tools"
# npm ci again only when the pinned versions changed.
if ! cmp -s "$here/package-lock.json" "$tools/package-lock.json" || [[ ! -x $tools/node_modules/.bin/validate-api ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
validate=$tools/node_modules/.bin/validate-api

if ! "$validate" "$spec" >"$tools/result.json"; then
  echo "openapi: $spec is not a valid OpenAPI document:" >&2
  cat "$tools/result.json" >&2
  exit 1
fi
echo "openapi: $spec is valid"

broken=$tools/broken.yaml
awk '/^        .204.:$/ && !done { print; getline; sub(/description:/, "summary:"); done = 1 } { print }' "$spec" >"$broken"
if cmp -s "$spec" "$broken"; then
  echo "openapi: could not make a broken copy (no 204 response with a description?)" >&2
  exit 1
fi
if "$validate" "$broken" >/dev/null; then
  echo "openapi: the validator accepted a response without its required description" >&2
  exit 1
fi
echo "openapi: a broken copy is refused"
