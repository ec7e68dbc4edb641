# The front door. `make run` and `make test` work on a fresh Debian 12 machine:
# each installs what is missing first.

BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
BIN        := $(BUILD_DIR)/personaworlds
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything building and testing needs, as Debian package names.
BUILD_PACKAGES := pkg-config cmake g++ make libcli11-dev libcpp-httplib-dev libsqlitecpp-dev \
                  prometheus-cpp-dev libspdlog-dev doctest-dev libsqlite3-dev nlohmann-json3-dev libssl-dev \
                  libcurl4-openssl-dev libc-ares-dev libpq-dev
TEST_PACKAGES  := prometheus curl jq docker-compose sqlite3 clang libclang-rt-14-dev iproute2 haproxy \
                  python3-yaml python3-jsonschema postgresql prometheus-postgres-exporter \
                  chromium chromium-driver python3-selenium

.PHONY: all deps build binary run test clean test-sanitize test-tsan fuzz lint-thread-safety chaos

all: build

deps:
	@scripts/install-packages.sh $(BUILD_PACKAGES) $(TEST_PACKAGES)

$(BUILD_DIR)/CMakeCache.txt:
	@echo "==> configuring ($(BUILD_TYPE)) in $(BUILD_DIR)"
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	@echo "==> building"
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Only the binary: `run` needs none of the test or fuzz targets.
binary: deps $(BUILD_DIR)/CMakeCache.txt
	@echo "==> building personaworlds"
	cmake --build $(BUILD_DIR) -j$(JOBS) --target personaworlds

run: binary
	@scripts/run-local.sh $(BIN)

test: build
	@echo "==> running tests"
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-fuzz build-lint

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer; any
# report fails the run.
test-sanitize: deps
	@echo "==> building with ASan + UBSan in build-asan"
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPW_SANITIZE=address,undefined
	cmake --build build-asan -j$(JOBS)
	@echo "==> running tests under ASan + UBSan"
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 900 -E '^deploy\.'

# The concurrency tests (queue, worker, HTTP, database, the console's background count) under ThreadSanitizer.
TSAN_TESTS ?= queue|worker|http|HTTP|framer:|db|JobQueue|Worker|overload|slow|crash|faults|AdminCounts|admin
test-tsan: deps
	@echo "==> building with TSan in build-tsan"
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPW_SANITIZE=thread
	cmake --build build-tsan -j$(JOBS) --target personaworlds pw_unit_tests pw_e2e_tests
	@echo "==> running concurrency tests under TSan"
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --output-on-failure -j$(JOBS) --timeout 900 -R '$(TSAN_TESTS)' -E '^deploy\.'

# clang's -Wthread-safety over the worker's annotated locking: any access to
# guarded state without its mutex fails the build. Compiles only the worker.
lint-thread-safety: deps
	@echo "==> clang -Wthread-safety over src/worker in build-lint"
	cmake -S . -B build-lint -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPW_THREAD_SAFETY=ON \
	  -DPW_BUILD_TESTS=OFF $(CMAKE_ARGS)
	cmake --build build-lint -j$(JOBS) --target pw_thread_safety
	@echo "==> thread-safety analysis clean"

# Longer randomised fault tests (tests/chaos/): random SIGSTOP/SIGCONT of
# several workers through a long drain, a worker starved of CPU with nice.
# Not part of `make test`; PW_CHAOS_SECONDS sets each test's length.
chaos: build
	cmake --build $(BUILD_DIR) -j$(JOBS) --target pw_chaos_tests
	@echo "==> chaos tests ($${PW_CHAOS_SECONDS:-120} s each)"
	$(BUILD_DIR)/tests/pw_chaos_tests

# Runs each libFuzzer target for FUZZ_SECONDS; crashes are saved into its corpus.
FUZZ_SECONDS ?= 60
fuzz: deps
	@echo "==> building fuzz targets with clang + libFuzzer in build-fuzz"
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPW_FUZZ=ON
	cmake --build build-fuzz -j$(JOBS) --target $$(ls tests/fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/\.cpp$$//')
	@for target in $$(ls tests/fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/^fuzz_//; s/\.cpp$$//'); do \
	  echo "==> fuzzing $$target for $(FUZZ_SECONDS)s"; \
	  mkdir -p tests/fuzz/corpus/$$target build-fuzz/work-$$target; \
	  if ! build-fuzz/tests/fuzz/fuzz_$$target -max_total_time=$(FUZZ_SECONDS) \
	       -artifact_prefix=tests/fuzz/corpus/$$target/crash- \
	       build-fuzz/work-$$target tests/fuzz/corpus/$$target > build-fuzz/fuzz-$$target.log 2>&1; then \
	    tail -30 build-fuzz/fuzz-$$target.log; echo "fuzz target $$target failed"; exit 1; \
	  fi; \
	  grep -E "^#[0-9]+.*(DONE|pulse)" build-fuzz/fuzz-$$target.log | tail -1; \
	done

-include bench/queue/bench.mk
-include bench/http/bench.mk
-include bench/soak/bench.mk
-include bench/fairness/bench.mk
-include bench/console/bench.mk
-include bench/scale/bench.mk
-include deploy/deploy.mk
