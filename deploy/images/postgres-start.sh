#!/bin/bash
# First start: initdb (scram-sha-256 everywhere) and the canopy role and database (CREATEDB, for the
# app instances' FerretDB databases). Then PostgreSQL in the foreground on 127.0.0.1:POSTGRES_PORT.
set -euo pipefail
: "${POSTGRES_PASSWORD:?}"
bin=/usr/lib/postgresql/15/bin data=/var/lib/postgresql/data port=${POSTGRES_PORT:-5432}
if [ ! -s "$data/PG_VERSION" ]; then
  secret=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" > "$secret"
  "$bin/initdb" -D "$data" -U postgres --pwfile="$secret" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$secret"
  "$bin/pg_ctl" -D "$data" -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" -w start >/dev/null
  PGPASSWORD=$POSTGRES_PASSWORD "$bin/psql" -q -h /run/postgresql -U postgres -v ON_ERROR_STOP=1 \
    -v pw="$POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE canopy LOGIN CREATEDB PASSWORD :'pw';
CREATE DATABASE canopy OWNER canopy;
SQL
  "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
exec "$bin/postgres" -D "$data" -c listen_addresses=127.0.0.1 -p "$port" \
  -c unix_socket_directories=/run/postgresql -c max_connections=200
