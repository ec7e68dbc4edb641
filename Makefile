# The front door. `make run` and `make test` work on a fresh Debian 12 machine:
# each installs what is missing first.

BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
BIN        := $(BUILD_DIR)/personaworlds
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything building and testing needs, as Debian package names.
BUILD_PACKAGES := pkg-config cmake g++ make libcli11-dev libcpp-httplib-dev libsqlitecpp-dev \
                  prometheus-cpp-dev libspdlog-dev doctest-dev libsqlite3-dev nlohmann-json3-dev libssl-dev
TEST_PACKAGES  := prometheus curl jq docker-compose sqlite3 clang libclang-rt-14-dev

.PHONY: all deps build run test clean test-sanitize

all: build

deps:
	@scripts/install-packages.sh $(BUILD_PACKAGES) $(TEST_PACKAGES)

$(BUILD_DIR)/CMakeCache.txt:
	@echo "==> configuring ($(BUILD_TYPE)) in $(BUILD_DIR)"
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	@echo "==> building"
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	@scripts/run-local.sh $(BIN)

test: build
	@echo "==> running tests"
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan

-include bench/queue/bench.mk
-include bench/http/bench.mk
-include deploy/deploy.mk
