# `make bench-http` (what access logging costs, bench/http/http.sh) and
# `make bench-overload` (256 connections against the API, bench/http/overload.sh).
# Not part of `make test`. Included from the Makefile. Both need wrk.
BENCH_BUILD_DIR    ?= build
BENCH_HTTP_SECONDS ?= 10
BENCH_HTTP_RUNS    ?= 3
OVERLOAD_SECONDS   ?= 30
OVERLOAD_CONNECTIONS ?= 256

.PHONY: bench-http bench-overload
bench-http:
	@command -v wrk >/dev/null || scripts/install-packages.sh wrk
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds
	bench/http/http.sh $(BENCH_BUILD_DIR) $(BENCH_HTTP_SECONDS) $(BENCH_HTTP_RUNS)

bench-overload:
	@command -v wrk >/dev/null || scripts/install-packages.sh wrk
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds
	bench/http/overload.sh $(BENCH_BUILD_DIR) $(OVERLOAD_SECONDS) $(OVERLOAD_CONNECTIONS)
