# `make bench-console`: the operator console (admin API and page) on a
# database of a million jobs, SQLite and PostgreSQL (see bench/console/run.sh).
# Not part of `make test`. Included from the Makefile.
#   make bench-console BENCH_CONSOLE_DRIVERS=sqlite      only SQLite
#   make bench-console BENCH_CONSOLE_JOBS=100000         a quick trial
BENCH_BUILD_DIR       ?= build
BENCH_CONSOLE_JOBS    ?= 1000000
BENCH_CONSOLE_RUNS    ?= 5
BENCH_CONSOLE_DRIVERS ?= sqlite postgres

.PHONY: bench-console
bench-console:
	@scripts/install-packages.sh chromium chromium-driver python3-selenium sqlite3 postgresql jq curl
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds
	BENCH_CONSOLE_JOBS=$(BENCH_CONSOLE_JOBS) BENCH_CONSOLE_RUNS=$(BENCH_CONSOLE_RUNS) \
	  BENCH_CONSOLE_DRIVERS="$(BENCH_CONSOLE_DRIVERS)" bench/console/run.sh $(BENCH_BUILD_DIR)
