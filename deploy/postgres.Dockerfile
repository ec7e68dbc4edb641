# PostgreSQL 15 for compose.postgres.yaml: Debian's own server package on the
# same Debian release as the other images (no registry image is needed).
#   docker build -f deploy/postgres.Dockerfile -t personaworlds-postgres:latest .
# Settings from the environment, read on the first start of an empty volume:
#   POSTGRES_USER (personaworlds), POSTGRES_PASSWORD (required),
#   POSTGRES_DB (personaworlds). Data in /var/lib/postgresql/data.
FROM debian:bookworm-slim

# The package's post-install makes a cluster of its own: removed, the
# entrypoint makes the one that is used, on the volume.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /var/lib/postgresql/15 /etc/postgresql/15 \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 0775 /var/run/postgresql

COPY deploy/postgres/entrypoint.sh /usr/local/bin/postgres-entrypoint

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
# The package's own unprivileged user: initdb refuses to run as root.
USER postgres
# Declared after the chown: a fresh named volume copies that ownership.
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
# SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing is lost.
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint"]
