#!/usr/bin/env bash
# Creates the course role and database of this server, owned by that role, from the environment
# that stack/docker-compose.yml sets from .env (JORNADA_DB, JORNADA_DB_USER, JORNADA_DB_PASSWORD).
# The same thing the native runtime does in lib/jornada/stack/postgres.py (_ensure_database).
#
# The official postgres image runs the files of /docker-entrypoint-initdb.d once, on the first
# start of an EMPTY data volume, as the superuser (POSTGRES_USER) over the local socket. Changing
# .env afterwards does not change the role's password: recreate the volume
# (`docker compose ... down -v`) or run `alter role` by hand.
# The tables are not created here: the jupyter service runs `jornada db init` (idempotent).
set -Eeo pipefail

: "${JORNADA_DB:?JORNADA_DB is not set (see stack/docker-compose.yml)}"
: "${JORNADA_DB_USER:?JORNADA_DB_USER is not set (see stack/docker-compose.yml)}"
: "${JORNADA_DB_PASSWORD:?JORNADA_DB_PASSWORD is not set: run make env to create .env}"

# The password is read with \getenv, so it never appears on a command line (ps) or in a log.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv course_db JORNADA_DB
\getenv course_user JORNADA_DB_USER
\getenv course_password JORNADA_DB_PASSWORD
select format('create role %I with login password %L', :'course_user', :'course_password')
 where not exists (select from pg_roles where rolname = :'course_user') \gexec
select format('alter role %I with login password %L', :'course_user', :'course_password') \gexec
select format('create database %I owner %I', :'course_db', :'course_user')
 where not exists (select from pg_database where datname = :'course_db') \gexec
SQL

# PostgreSQL 15+ no longer lets every role create in `public`: the course role owns it.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$JORNADA_DB" <<'SQL'
\getenv course_user JORNADA_DB_USER
select format('alter schema public owner to %I', :'course_user') \gexec
SQL
echo "jornada: role ${JORNADA_DB_USER} and database ${JORNADA_DB} are ready"
