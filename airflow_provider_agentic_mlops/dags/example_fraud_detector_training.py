"""Example training DAG of the ``fraud-detector`` demo model.

``RetrainOperator(trigger_dag_id="fraud_detector_training")`` triggers it with a conf holding
``model_name``, ``registered_model``, ``train_data`` and ``tags`` (the retraining job's id and its
unique token among them); it trains, logs an MLflow run and registers a new model version carrying
all those tags, which is how the waiting RetrainOperator finds the version it caused. Trigger it by
hand with a conf like ``{"train_data": "/path/current.parquet"}`` to register a version yourself.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task


@dag(
    dag_id="fraud_detector_training",
    schedule=None,
    catchup=False,
    tags=["agentic-mlops", "training", "example"],
    doc_md=__doc__,
)
def fraud_detector_training():
    @task
    def train() -> dict:
        from airflow_provider_agentic_mlops.demo.training import train_fraud_detector
        from airflow_provider_agentic_mlops.hooks.mlflow import MlflowRegistryHook

        conf = dict(get_current_context()["dag_run"].conf or {})
        hook = MlflowRegistryHook(conf.pop("mlflow_conn_id", "agentic_mlops_mlflow_train"))
        with hook.authenticated():  # MLflow calls in this block send the connection's credentials
            return train_fraud_detector(
                model_name=conf.pop("model_name", "fraud-detector"),
                registered_model=conf.pop("registered_model", "fraud-detector"),
                tracking_uri=hook.tracking_uri,
                tags={str(k): str(v) for k, v in (conf.pop("tags", None) or {}).items()},
                conf=conf,
            )

    train()


fraud_detector_training()
