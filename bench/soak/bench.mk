# `make soak` (bench/soak/soak.sh): API traffic, two workers and job pruning
# for SOAK_SECONDS, failing when memory, the database or its WAL grow past
# their bounds (SOAK_MAX_* settings, see the script). Not part of `make test`.
# Included from the Makefile. Needs wrk and sqlite3. Afterwards the database
# is copied to a throwaway PostgreSQL and both APIs' answers compared
# (bench/soak/copy_check.sh) when the PostgreSQL server binaries are
# installed (make deps); SOAK_COPY_TO_POSTGRES=0 skips that, =1 requires it.
BENCH_BUILD_DIR ?= build
SOAK_SECONDS    ?= 600
export SOAK_COPY_TO_POSTGRES

.PHONY: soak
soak:
	@command -v wrk >/dev/null || scripts/install-packages.sh wrk
	@command -v sqlite3 >/dev/null || scripts/install-packages.sh sqlite3
	cmake -S . -B $(BENCH_BUILD_DIR)
	cmake --build $(BENCH_BUILD_DIR) -j2 --target personaworlds
	bench/soak/soak.sh $(BENCH_BUILD_DIR) $(SOAK_SECONDS)
