"""Training of the ``fraud-detector`` demo model; logs a run and registers a new MLflow version.

It follows the provider's training callable contract, so the same function serves the example
training DAG (``trigger_dag_id`` backend) and ``RetrainOperator(python_callable=...)``.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from airflow_provider_agentic_mlops.demo.data import CATEGORICAL, FEATURES, LABEL, REGIME_ATTR, SHIFT_ATTR


def build_pipeline(seed: int = 0) -> Any:
    """One-hot categoricals + scaled numerics + logistic regression: small and fast. Fitted, it is made of
    types MLflow's skops serialisation trusts by default, but for one of scikit-learn 1.5 and 1.6
    (:data:`SKOPS_TYPES_TO_TRUST`), trusted when the model is logged."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL), ("num", StandardScaler(), numeric)]
    )
    model = LogisticRegression(max_iter=1000, class_weight="balanced", random_state=seed)
    return Pipeline([("encode", encode), ("model", model)])


#: scikit-learn's own types in the fitted demo pipeline that skops does not trust by default: scikit-learn 1.5
#: and 1.6 keep a ColumnTransformer's remainder columns in ``_RemainderColsList`` (1.7 no longer has it).
SKOPS_TYPES_TO_TRUST = ("sklearn.compose._column_transformer._RemainderColsList",)


def skops_trusted_types() -> list[str]:
    """The types of :data:`SKOPS_TYPES_TO_TRUST` the installed scikit-learn has: what MLflow's skops
    serialisation must be told to trust to save (and later load) the demo pipeline."""
    import importlib

    found = []
    for qualified in SKOPS_TYPES_TO_TRUST:
        module, _, name = qualified.rpartition(".")
        if hasattr(importlib.import_module(module), name):
            found.append(qualified)
    return found


def classification_metrics(pipeline: Any, frame: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    proba = pipeline.predict_proba(frame[FEATURES])[:, 1]
    pred = (proba >= 0.5).astype(int)
    y = frame[LABEL]
    return {
        "roc_auc": float(roc_auc_score(y, proba)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
    }


def fit_fraud_detector(frame: Any, *, seed: int = 0, holdout: float = 0.2) -> tuple[Any, dict[str, float]]:
    """Fit the demo model on labelled ``frame`` less a stratified ``holdout`` share, and score it on that
    share: the pipeline and its held-out metrics (the baseline the drift check measures it against).

    :param frame: transactions with the ``is_fraud`` label.
    :param seed: seed of the split and the model.
    :param holdout: share of rows held out.
    """
    from sklearn.model_selection import train_test_split

    train, held_out = train_test_split(frame, test_size=holdout, random_state=seed, stratify=frame[LABEL])
    pipeline = build_pipeline(seed).fit(train[FEATURES], train[LABEL])
    return pipeline, classification_metrics(pipeline, held_out)


def train_fraud_detector(
    *,
    model_name: str,
    registered_model: str,
    tracking_uri: str,
    conf: dict[str, Any],
    tags: dict[str, str],
) -> dict[str, Any]:
    """Train on ``conf["train_data"]`` (a Parquet/CSV path with the ``is_fraud`` label), log the run,
    register a new version of ``registered_model`` tagged with ``tags`` and return it.

    :param model_name: the provider's model name (used for the experiment name).
    :param registered_model: name in the MLflow model registry.
    :param tracking_uri: MLflow tracking URI to log to.
    :param conf: ``train_data`` (required), ``seed`` (optional), ``holdout`` share (default 0.2).
    :param tags: tags set on the run and the registered version (job id, DAG run, decision id); the demo data's
        shift and regime are added when the file names them (see ``demo.data.SHIFT_ATTR``).
    """
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    path = conf.get("train_data")
    if not path:
        raise ValueError(
            f"model {model_name!r}: training needs conf['train_data'], the path of labelled data; "
            "set retrain.conf.train_data in models.yaml"
        )
    if str(path).endswith(".csv"):
        frame = pd.read_csv(path)
    else:
        from airflow_provider_agentic_mlops.core.data_io import import_parquet

        import_parquet()  # a pyarrow that does not import is named with the versions and the fix
        frame = pd.read_parquet(path)
    missing = [c for c in [*FEATURES, LABEL] if c not in frame.columns]
    if missing:
        raise ValueError(f"model {model_name!r}: training data {path} lacks columns {missing}")
    # the demo data's shift and regime (Parquet metadata), so a restarted demo knows what this version learned from
    tags = {**tags, **{k: str(frame.attrs[k]) for k in (SHIFT_ATTR, REGIME_ATTR) if k in frame.attrs}}
    seed, holdout = int(conf.get("seed", 0)), float(conf.get("holdout", 0.2))
    pipeline, metrics = fit_fraud_detector(frame, seed=seed, holdout=holdout)

    from airflow_provider_agentic_mlops.hooks.mlflow import model_experiment_id
    from airflow_provider_agentic_mlops.log_hygiene import quiet_known_noise

    quiet_known_noise()  # skops' module scan on save warns once per Airflow shim otherwise
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_experiment(experiment_id=model_experiment_id(client, model_name, tracking_uri))  # the model's own
    sample = frame[FEATURES].head(50)
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values: the demo's never miss any
        warnings.filterwarnings(
            "ignore", message=r"Hint: Inferred schema contains integer column", category=UserWarning
        )
        signature = infer_signature(sample, pipeline.predict_proba(sample))
    with mlflow.start_run(run_name=f"train-{model_name}", tags=tags) as run:
        mlflow.log_params({"rows": len(frame), "seed": seed, "train_data": str(path)})
        # n_holdout: the rows of the held-out metrics (train_test_split's ceil), so the drift check counts the
        # baseline's own sampling error; without it a ROC AUC on ~60 held-out frauds reads as exact
        mlflow.log_metrics({**metrics, "n_holdout": math.ceil(len(frame) * holdout)})
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            # stated, not inferred: inference reloads the model in a subprocess (slow) and warns for skops
            pip_requirements=sklearn_pip_requirements(),
            **_skops_options(mlflow.sklearn.log_model),
        )
    version = _register_version(client, registered_model, info, run.info.run_id, tags)
    return {"version": version, "run_id": run.info.run_id, "metrics": metrics}


def _skops_options(log_model: Any) -> dict[str, Any]:
    """``skops_trusted_types`` for ``log_model`` when the installed scikit-learn needs it; none for an MLflow
    without skops (older ones pickle and have no such parameter)."""
    import inspect

    trusted = skops_trusted_types()
    if not trusted or "skops_trusted_types" not in inspect.signature(log_model).parameters:
        return {}
    return {"skops_trusted_types": trusted}


def sklearn_pip_requirements() -> list[str]:
    """The pip requirements of a scikit-learn model, pinned to what is installed, to state when logging it.
    MLflow otherwise infers them by loading the model in a fresh Python subprocess (5-8 s a model)."""
    from importlib.metadata import version

    return [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "skops", "numpy", "scipy", "pandas")]


def _register_version(client: Any, registered_model: str, info: Any, run_id: str, tags: dict[str, str]) -> str:
    """Register the logged model as a new version through the client, which (unlike
    ``log_model(registered_model_name=...)``) prints nothing to stderr, where Airflow's task log
    turns "Registered model ... already exists" into an ERROR line."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(registered_model)
    except MlflowException as err:
        if getattr(err, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(registered_model)
    created = client.create_model_version(
        registered_model,
        source=info.model_uri,
        run_id=run_id,
        tags={key: str(value) for key, value in tags.items()},
        model_id=info.model_id,
    )
    return str(created.version)
