# The Airflow image of docker-compose.yaml: the official apache/airflow image with this provider.
#
#   docker build -t agentic-mlops-airflow .
#
# (docker compose up --build builds it; the other services use the official postgres and
# ghcr.io/mlflow/mlflow images as they are.)

ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE} AS airflow

# The apache/airflow image wants packages installed as the `airflow` user, with apache-airflow
# pinned to the image's version so pip cannot up- or downgrade it while resolving the provider's
# dependencies (which come from pyproject.toml, whatever they are).
USER airflow
# Created by the airflow user (not by WORKDIR, which would make it root's): pip builds in-tree
# and writes build metadata next to pyproject.toml.
RUN mkdir -p /opt/airflow/provider-src
WORKDIR /opt/airflow/provider-src

# Dependencies first, from pyproject.toml alone: this layer stays cached while only the package's
# code, README or LICENSE change (then the last install below takes seconds).
COPY --chown=airflow:0 pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/provider-requirements.txt \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/provider-requirements.txt \
    && rm /tmp/provider-requirements.txt

# LICENSE* : whatever pyproject.toml names as license files (none matching is fine).
COPY --chown=airflow:0 README.md LICENSE* ./
COPY --chown=airflow:0 airflow_provider_agentic_mlops/ ./airflow_provider_agentic_mlops/

RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" .

# /opt/airflow/auth holds the simple auth manager's passwords file (written by airflow-init, read
# by the API server); group 0 may write it, so any AIRFLOW_UID with gid 0 can use it.
# /opt/airflow/secrets holds the shared secrets airflow-init generates (group 0 only);
# /opt/airflow/demo-data the demo's data (`demo --no-start`). Made here, owned by airflow:0, so the
# empty named volumes mounted on them start with this owner and mode and any AIRFLOW_UID can write.
RUN mkdir -p /opt/airflow/auth /opt/airflow/secrets /opt/airflow/demo-data \
    && chmod 0775 /opt/airflow/auth /opt/airflow/demo-data && chmod 0770 /opt/airflow/secrets

WORKDIR /opt/airflow
