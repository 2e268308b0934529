#!/bin/sh
# Entry point of durabench-postgres (PostgreSQL 15 from Debian, offline base image).
#
# Steps: 1. as root, make $PGDATA and /run/postgresql belong to postgres, then re-exec as postgres;
# 2. if $PGDATA is empty, initdb (UTF-8, C.UTF-8), with POSTGRES_PASSWORD when set, and a pg_hba
# that trusts local socket connections and applies POSTGRES_HOST_AUTH_METHOD (default: trust
# without a password, scram-sha-256 with one) to TCP from anywhere; listen_addresses='*';
# create POSTGRES_DB when it is not "postgres"; 3. exec postgres (PID 1, receives SIGINT).
# Arguments: `postgres [-c k=v ...]` or just `-c k=v ...`; any other command is exec'ed as is.
set -eu
if [ "${1:-postgres}" = postgres ]; then
  [ $# -gt 0 ] && shift
elif [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

user=${POSTGRES_USER:-postgres}
password=${POSTGRES_PASSWORD:-}
if [ -n "$password" ]; then default_auth=scram-sha-256; else default_auth=trust; fi
auth=${POSTGRES_HOST_AUTH_METHOD:-$default_auth}
if [ "$auth" != trust ] && [ -z "$password" ]; then
  echo "durabench-postgres: POSTGRES_HOST_AUTH_METHOD=$auth needs POSTGRES_PASSWORD;" \
       "set a password or POSTGRES_HOST_AUTH_METHOD=trust (only on a private network)" >&2
  exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "${password:-unused}" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth" >/dev/null
  rm -f "$pwfile"
  {
    echo "host all all 0.0.0.0/0 $auth"
    echo "host all all ::/0 $auth"
  } >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  db=${POSTGRES_DB:-$user}
  if [ "$db" != postgres ]; then
    postgres --single -D "$PGDATA" postgres <<SQL >/dev/null
CREATE DATABASE "$db";
SQL
  fi
  echo "durabench-postgres: initialised $PGDATA (user $user, host auth $auth)"
fi
exec postgres -D "$PGDATA" "$@"
