-- Runs once, when the `postgres` service initialises its empty data volume
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yaml).
-- Creates the provider's state-store database (jobs, decisions, approvals, audit trail) on the
-- same server as Airflow's metadata database, owned by the same `airflow` role. The provider
-- creates its tables itself (Alembic migrations on first use).
-- With an existing volume, run it by hand:
--   docker compose exec postgres psql -U airflow -d airflow -f /docker-entrypoint-initdb.d/init-agentic-mlops.sql
CREATE DATABASE agentic_mlops OWNER airflow;
