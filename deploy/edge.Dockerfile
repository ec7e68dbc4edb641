# The edge proxy: Debian's HAProxy 2.6 with deploy/haproxy/haproxy.cfg.
#   docker build -f deploy/edge.Dockerfile -t personaworlds-edge:latest .
# Same Debian release as deploy/Dockerfile; nothing but the package and the
# configuration. Settings come from the environment (see the file's header).
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*

COPY deploy/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg
COPY deploy/haproxy/errors/ /etc/haproxy/errors/
# The container health check (compose.yaml): bash asks the monitor URI.
# Executable in git; COPY keeps the mode.
COPY deploy/haproxy/healthcheck.sh /usr/local/bin/edge-healthcheck

# Fail the image build, not the first container start, on a broken config
# (`backend` does not resolve here: that is only a warning).
RUN haproxy -c -f /etc/haproxy/haproxy.cfg

# The package's own unprivileged user; both ports are above 1024.
USER haproxy
# 8080: the API, published; 8404: the edge's health, stats and metrics, private.
EXPOSE 8080 8404
# SIGUSR1 is HAProxy's soft stop: listeners close, requests in flight finish
# (bounded by hard-stop-after in the config).
STOPSIGNAL SIGUSR1
ENTRYPOINT ["haproxy", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
