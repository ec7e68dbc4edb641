# Deployment targets, included by the top-level Makefile (`-include deploy/deploy.mk`).
#   make stack          migrate + api + worker + a real Prometheus on 127.0.0.1 (scripts/stack.sh);
#                       Ctrl-C stops everything. STACK_ARGS passes options, e.g.
#                       make stack STACK_ARGS="--api-port 0 --scrape-interval 5s"
#   make traffic        drive a running `make stack` with mixed traffic (tests/deploy/traffic.sh)
#   make deploy-check   static checks: compose.yaml (and compose.postgres.yaml), Prometheus config/rules/unit tests, dashboard
#   make image-test     build the images with podman and run compose.yaml, then the PostgreSQL stack, for real
#                       (installs podman & co. when missing; about 5-8 minutes on a fresh machine)

STACK_ARGS ?=

.PHONY: stack traffic deploy-check image-test

stack: build
	@scripts/stack.sh --bin $(BIN) $(STACK_ARGS)

# Against `make stack` in another terminal (its API and database).
traffic:
	@. .stack/stack.env && tests/deploy/traffic.sh --bin $(BIN) --db "$$DATABASE_PATH" "$$API_URL"

deploy-check: deps
	bash tests/deploy/check_compose.sh
	bash tests/deploy/check_compose_postgres.sh
	bash tests/deploy/check_prometheus.sh
	bash tests/deploy/check_dashboard.sh

image-test:
	bash tests/deploy/image_test.sh
