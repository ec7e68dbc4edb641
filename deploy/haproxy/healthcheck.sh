#!/bin/bash
# The edge container's health check: exit 0 when HAProxy's monitor URI
# (/healthz on the private admin listener, EDGE_ADMIN_BIND) answers 200.
# The image carries no HTTP client; bash's /dev/tcp is enough.
set -euo pipefail
port=${EDGE_ADMIN_BIND:-:8404}
port=${port##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
IFS= read -r -t 3 status <&3
[[ $status == "HTTP/1."[01]" 200 "* ]]
