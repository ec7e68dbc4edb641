# Deployment targets, included by the top-level Makefile (`-include deploy/deploy.mk`).
#   make deploy-check   static checks: compose.yaml, Prometheus config/rules/unit tests, dashboard
#   make image-smoke    build the image with podman and run compose.yaml for real (a few minutes;
#                       needs podman, podman-compose, runc, debootstrap: see tests/deploy/image_smoke.sh)

.PHONY: deploy-check image-smoke

deploy-check: deps
	bash tests/deploy/check_compose.sh
	bash tests/deploy/check_prometheus.sh
	bash tests/deploy/check_dashboard.sh

image-smoke: deps
	bash tests/deploy/image_smoke.sh
