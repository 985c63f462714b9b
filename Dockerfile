# Images for docker-compose.yaml. Two targets:
#   mlflow  - the MLflow tracking server (MLflow + psycopg2 for its PostgreSQL backend store)
#   airflow - Apache Airflow 3 with this provider installed (the default, last stage)
#
#   docker build -t agentic-mlops-airflow .
#   docker build --target mlflow -t agentic-mlops-mlflow .

ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# MLflow tracking server. The official ghcr.io/mlflow/mlflow image has no PostgreSQL driver,
# so this small stage installs MLflow and psycopg2-binary on a slim Python base.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS mlflow

ARG MLFLOW_VERSION=3.17.2
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir "mlflow==${MLFLOW_VERSION}" "psycopg2-binary>=2.9" \
    && useradd --create-home --uid 1000 mlflow \
    && mkdir -p /mlartifacts \
    && chown mlflow /mlartifacts

USER mlflow
WORKDIR /home/mlflow
EXPOSE 5000
# docker-compose.yaml gives the full `mlflow server ...` command (backend store, artifacts).
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]

# ---------------------------------------------------------------------------------------------
# Airflow with the provider. The apache/airflow image wants packages installed as the `airflow`
# user, with apache-airflow pinned to the image's version so pip cannot up- or downgrade it.
# ---------------------------------------------------------------------------------------------
FROM ${AIRFLOW_IMAGE} AS airflow

USER airflow
# Created by the airflow user (not by WORKDIR, which would make it root's): pip builds in-tree
# and writes build metadata next to pyproject.toml.
RUN mkdir -p /opt/airflow/provider-src
WORKDIR /opt/airflow/provider-src

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 airflow_provider_agentic_mlops/ ./airflow_provider_agentic_mlops/

RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" .

# /opt/airflow/auth holds the simple auth manager's passwords file (written by airflow-init, read
# by the API server); group 0 may write it, so any AIRFLOW_UID with gid 0 can use it.
RUN mkdir -p /opt/airflow/auth && chmod 0775 /opt/airflow/auth

WORKDIR /opt/airflow
