# prometheus-postgres-exporter for compose.postgres.yaml (profile
# observability): Debian's package on the same Debian release as the other
# images, with the extra queries of deploy/postgres-exporter/queries.yaml.
#   docker build -f deploy/postgres-exporter.Dockerfile -t personaworlds-postgres-exporter:latest .
# The server to read: DATA_SOURCE_NAME (a libpq URL) from the environment.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-postgres-exporter \
 && rm -rf /var/lib/apt/lists/*

COPY deploy/postgres-exporter/queries.yaml /etc/prometheus-postgres-exporter/queries.yaml

# The package's own unprivileged user.
USER prometheus
EXPOSE 9187
ENTRYPOINT ["prometheus-postgres-exporter", "--web.listen-address=:9187", \
            "--extend.query-path=/etc/prometheus-postgres-exporter/queries.yaml"]
