# canopy/postgres: Debian's PostgreSQL 15; the cluster is made on first start with the canopy role.
FROM canopy/debian:latest
RUN apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /var/cache/apt/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY postgres-start.sh /usr/local/bin/postgres-start.sh
USER postgres
VOLUME /var/lib/postgresql/data
HEALTHCHECK --interval=5s --timeout=30s --start-period=60s --retries=10 \
  CMD ["sh", "-c", "/usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -p ${POSTGRES_PORT:-5432} -U canopy -d canopy"]
CMD ["/usr/local/bin/postgres-start.sh"]
