"""Airflow's authentication and authorisation, as the plugin's routes use them.

Airflow adds no auth to plugin apps. Routes that act for a person depend on
:func:`authenticated_user` (Airflow's own ``get_user``: the ``Authorization: Bearer`` JWT, or the
UI's session cookie) and ask the configured auth manager about the DAG with
:func:`is_authorized_dag`, passing the DAG's team as Airflow's own ``requires_access_dag`` does
(Airflow 3.2+; Airflow 3.1 has no teams). Writes authenticated by the cookie must also pass
:func:`check_same_origin` (CSRF): a browser attaches the cookie to cross-site requests too.

A DAG id Airflow's metadata DB does not know (the DAG was deleted, or not parsed yet) has an unknown
team, not "no team" (which every user of any team may read): :func:`dag_teams` answers
:class:`UnknownDag`, and the check passes only for a user who may read it whichever team it had (with no
team and with each team of the deployment): an admin, or a user of every team.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request


async def authenticated_user(request: Request) -> Any:
    """The Airflow user of this request (401 without a valid token), resolved by Airflow's ``get_user``."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


UserDep = Annotated[Any, Depends(authenticated_user)]


def airflow_has_teams() -> bool:
    """Airflow 3.2+ ties DAGs to teams (``DagDetails.team_name``, ``DagModel.get_dag_id_to_team_name_mapping``);
    3.1 does not (see :mod:`~airflow_provider_agentic_mlops.version_compat`)."""
    from airflow_provider_agentic_mlops.version_compat import AIRFLOW_V_3_2_PLUS

    return AIRFLOW_V_3_2_PLUS


@dataclass(frozen=True)
class UnknownDag:
    """The team of a DAG id Airflow's metadata DB does not know (deleted, or not parsed yet): it may have
    been any team's, so :func:`is_authorized_dag` asks about each of ``teams`` and allows only when every
    answer does.

    :param teams: None (no team) and each team of the deployment.
    """

    teams: tuple[str | None, ...]


#: What :func:`dag_teams` says of a DAG: its team, None (no team), or :class:`UnknownDag`.
DagTeam: TypeAlias = str | None | UnknownDag


def dag_teams(dag_ids: Iterable[str]) -> dict[str, DagTeam]:
    """The team of each DAG (None: no team, or an Airflow without teams; :class:`UnknownDag` for an id
    Airflow does not know), read as Airflow's routes read it."""
    ids = sorted(set(dag_ids))
    if not ids or not airflow_has_teams():
        return dict.fromkeys(ids)
    from airflow.models.dag import DagModel
    from airflow.models.team import Team
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        known = set(session.scalars(select(DagModel.dag_id).where(DagModel.dag_id.in_(ids))))
        teams: dict[str, DagTeam] = dict(DagModel.get_dag_id_to_team_name_mapping(ids, session=session))
        if len(known) < len(ids):
            unknown = UnknownDag((None, *sorted(session.scalars(select(Team.name)))))
            teams.update(dict.fromkeys(set(ids) - known, unknown))
    return {dag_id: teams.get(dag_id) for dag_id in ids}


class _Unread(enum.Enum):
    TEAM = "the DAG's team, not read by the caller"


#: ``team_name`` of :func:`is_authorized_dag` when the caller did not read the DAG's team.
UNREAD = _Unread.TEAM


def is_authorized_dag(
    user: Any, dag_id: str, *, method: str, entity: str, team_name: DagTeam | _Unread = UNREAD
) -> bool:
    """Ask Airflow's auth manager whether ``user`` may ``method`` the DAG's ``entity``, with the DAG's team.

    :param team_name: the DAG's team as the caller read it (:func:`dag_teams`; None: the DAG has none;
        :class:`UnknownDag`: Airflow does not know the DAG, asked about with each possible team), so that a
        list of DAGs costs one read of their teams; read here when not given.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    if not airflow_has_teams():
        candidates = [DagDetails(id=dag_id)]
    else:
        team = dag_teams([dag_id])[dag_id] if team_name is UNREAD else team_name
        teams = team.teams if isinstance(team, UnknownDag) else (team,)
        candidates = [DagDetails(id=dag_id, team_name=one) for one in teams]
    manager = get_auth_manager()
    return all(
        manager.is_authorized_dag(method=method, access_entity=DagAccessEntity[entity], details=details, user=user)
        for details in candidates
    )


def user_name(user: Any) -> str:
    return str(user.get_name() if hasattr(user, "get_name") else user)


def require_json(request: Request) -> None:
    """415 unless the media type is exactly ``application/json`` (parameters such as charset allowed).

    A substring test let ``text/plain; application/json`` through, which a cross-site page may send
    without a CORS preflight.
    """
    media_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, f"send the decision as JSON (Content-Type: application/json), not {media_type!r}")


def check_same_origin(request: Request) -> None:
    """403 for a cookie-authenticated write that a browser marks as coming from another origin.

    A request with a ``Bearer`` credential is not a browser's ambient credential and passes: Airflow's
    ``get_user`` then authenticates it by that token alone. Any other ``Authorization`` (e.g. the
    Basic credentials of a proxy, which a browser resends by itself) does not: ``get_user`` ignores
    it and falls back to the cookie. Otherwise ``Sec-Fetch-Site`` must be ``same-origin``
    (``same-site`` includes other ports of the same host); a browser that does not send it must send
    an ``Origin`` whose host and port are this request's (or those of ``[api] base_url``).
    """
    from fastapi.security.utils import get_authorization_scheme_param

    # the same parse as Airflow's bearer_scheme (HTTPBearer): scheme case-insensitive, token non-empty
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() == "bearer" and token:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() != "same-origin":
            raise HTTPException(403, f"cross-origin write refused (Sec-Fetch-Site: {site[:40]}); use the page itself")
        return
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        raise HTTPException(403, "write refused: no Origin header; use the approvals page or a bearer token")
    allowed = {(request.headers.get("host") or "").lower(), _base_url_netloc()}
    if urlsplit(origin).netloc.lower() not in allowed - {""}:
        raise HTTPException(403, f"cross-origin write refused (Origin: {origin[:100]}); use the approvals page")


def _base_url_netloc() -> str:
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").netloc.lower()


__all__ = [
    "DagTeam",
    "UnknownDag",
    "UserDep",
    "airflow_has_teams",
    "authenticated_user",
    "check_same_origin",
    "dag_teams",
    "is_authorized_dag",
    "require_json",
    "user_name",
]
