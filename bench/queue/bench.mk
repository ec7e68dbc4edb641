# `make bench-queue`: the job queue against plainjob (SQLite) and
# graphile-worker (PostgreSQL) on this machine (see bench/queue/run.sh). Not
# part of `make test`. Included from the Makefile.
#   make bench-queue BENCH_QUEUE_DRIVERS=postgres    only the PostgreSQL part
#   make bench-queue BENCH_QUEUE_BASELINE=REV        REV measured beside this tree (before/after)
BENCH_BUILD_DIR ?= build
BENCH_QUEUE_JOBS ?= 50000
BENCH_QUEUE_RUNS ?= 3
BENCH_QUEUE_DRIVERS ?= sqlite postgres
BENCH_QUEUE_BASELINE ?=

.PHONY: bench-queue
bench-queue:
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds pw_queue_bench
	BENCH_QUEUE_DRIVERS="$(BENCH_QUEUE_DRIVERS)" BENCH_QUEUE_BASELINE="$(BENCH_QUEUE_BASELINE)" bench/queue/run.sh $(BENCH_BUILD_DIR) $(BENCH_QUEUE_JOBS) $(BENCH_QUEUE_RUNS)
