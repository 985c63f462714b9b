#!/usr/bin/env bash
# Runs once, when the `postgres` service initialises its empty data volume (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yaml).
# Creates the provider's state-store database `agentic_mlops` (jobs, decisions, approvals, audit
# trail) on the same server as Airflow's metadata database, owned by its own LOGIN role
# `agentic_mlops` (password AGENTIC_MLOPS_DB_PASSWORD), which is not a superuser and cannot connect
# to Airflow's database. The provider creates its tables itself (`airflow agentic-mlops db migrate`
# in airflow-init). Safe to run again: it creates what is missing, sets the password and gives the
# role the database and its tables.
# With a volume created before this script existed (database owned by `airflow`), run it by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/init-agentic-mlops.sh
set -euo pipefail
: "${AGENTIC_MLOPS_DB_PASSWORD:?AGENTIC_MLOPS_DB_PASSWORD must be set (docker-compose.yaml passes it from .env)}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v password="$AGENTIC_MLOPS_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE agentic_mlops LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agentic_mlops')
\gexec
ALTER ROLE agentic_mlops LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SELECT 'CREATE DATABASE agentic_mlops OWNER agentic_mlops'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'agentic_mlops')
\gexec
ALTER DATABASE agentic_mlops OWNER TO agentic_mlops;
REVOKE ALL ON DATABASE agentic_mlops FROM PUBLIC;
-- Airflow's metadata DB: its owner (and superusers) only. It holds the connections' passwords.
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database())
\gexec
\connect agentic_mlops
-- Tables an earlier version created as `airflow` (their sequences follow their tables).
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
               AND pg_get_userbyid(c.relowner) <> 'agentic_mlops'
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO agentic_mlops', r.name);
    END LOOP;
END $$;
SQL
