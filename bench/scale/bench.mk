# `make bench-scale`: throughput against worker process count, latency under
# steady load and a soak of the jobs table on PostgreSQL, against
# graphile-worker and pg-boss on the same server (see bench/scale/run.sh for
# the settings). Not part of `make test`. Included from the Makefile.
#   make bench-scale BENCH_SCALE_SOAK_S=120      a shorter soak
#   make bench-scale BENCH_SCALE_RUNS=1 BENCH_SCALE_JOBS=5000 BENCH_SCALE_SOAK_S=60   a quick trial
BENCH_BUILD_DIR ?= build

.PHONY: bench-scale
bench-scale:
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds pw_queue_bench
	bench/scale/run.sh $(BENCH_BUILD_DIR)
