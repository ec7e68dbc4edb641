# `make bench-fairness` (bench/fairness/fairness.sh): one tenant runs the
# largest simulation the default limits allow and deletes the largest world
# they allow, while another tenant creates worlds; the second tenant's p99
# must stay under FAIRNESS_MAX_P99_MS. Not part of `make test`. Included from
# the Makefile. Needs wrk, jq, curl and sqlite3. To compare with an older
# build: FAIRNESS_BEFORE_BINARY=/path/to/personaworlds FAIRNESS_BEFORE_LABEL=...
BENCH_BUILD_DIR     ?= build
FAIRNESS_RUNS       ?= 3
FAIRNESS_MAX_P99_MS ?= 100

.PHONY: bench-fairness
bench-fairness:
	@command -v wrk >/dev/null || scripts/install-packages.sh wrk
	@command -v sqlite3 >/dev/null || scripts/install-packages.sh sqlite3
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds
	FAIRNESS_MAX_P99_MS=$(FAIRNESS_MAX_P99_MS) bench/fairness/fairness.sh $(BENCH_BUILD_DIR) $(FAIRNESS_RUNS)
