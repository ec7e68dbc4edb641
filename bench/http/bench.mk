# `make bench-http` (the API against a bare cpp-httplib server in the same
# run, bench/http/http.sh) and `make bench-overload` (256 connections against
# the API, bench/http/overload.sh). Not part of `make test`. Included from the
# Makefile. Both need wrk. BENCH_HTTP_DRIVERS ("sqlite postgres", "sqlite" or
# "postgres") picks the databases; default: both when PostgreSQL is installed.
BENCH_BUILD_DIR    ?= build
BENCH_HTTP_SECONDS ?= 5
BENCH_HTTP_RUNS    ?= 3
BENCH_HTTP_CONNECTIONS ?= 16
OVERLOAD_SECONDS   ?= 30
OVERLOAD_CONNECTIONS ?= 256

.PHONY: bench-http bench-overload
bench-http:
	@command -v wrk >/dev/null || scripts/install-packages.sh wrk
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds pw_bare_http
	bench/http/http.sh $(BENCH_BUILD_DIR) $(BENCH_HTTP_SECONDS) $(BENCH_HTTP_RUNS) $(BENCH_HTTP_CONNECTIONS)

bench-overload:
	@command -v wrk >/dev/null || scripts/install-packages.sh wrk
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds
	bench/http/overload.sh $(BENCH_BUILD_DIR) $(OVERLOAD_SECONDS) $(OVERLOAD_CONNECTIONS)
