"""The ``agentic-mlops://`` asset scheme, registered through provider info ``asset-uris``.

``agentic-mlops://models/<model_name>/champion`` changes whenever the model's champion does
(promotion or rollback), so a deployment DAG can be scheduled on it::

    from airflow_provider_agentic_mlops.assets import create_asset

    @dag(schedule=[create_asset(model_name="fraud-detector")])
    def deploy_fraud_detector(): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "agentic-mlops"


def champion_asset_uri(model_name: str) -> str:
    """The Asset a deployment DAG schedules on: updated whenever the model's champion changes."""
    return f"{SCHEME}://models/{model_name}/champion"


def champion_event_extra(model_name: str, registered_model: str, **fields: Any) -> dict[str, Any]:
    """The extra of a champion Asset event, as PromoteOperator and RollbackOperator send it: the model,
    its registered model and ``fields`` (``version``, and ``previous_version``/``noop`` or ``rollback``/``user``)."""
    return {"model_name": model_name, "registered_model": registered_model, **fields}


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's handler for the scheme: accept only ``agentic-mlops://models/<model_name>/champion``.

    :param uri: the URI, already split and normalised by Airflow.
    """
    parts = uri.path.strip("/").split("/")
    if uri.netloc != "models" or len(parts) != 2 or not parts[0] or parts[1] != "champion":
        raise ValueError(
            f"asset URI {uri.geturl()!r} is not {SCHEME}://models/<model_name>/champion; "
            "build it with airflow_provider_agentic_mlops.assets.champion_asset_uri(model_name)"
        )
    return uri


def create_asset(*, model_name: str, extra: dict | None = None) -> Asset:
    """The champion Asset of ``model_name`` (the factory in provider info ``asset-uris``).

    :param model_name: the model's name in models.yaml.
    :param extra: optional Asset extra.
    """
    from airflow.sdk import Asset

    return Asset(uri=champion_asset_uri(model_name), extra=extra)
