"""HTML pages of the plugin: one Jinja environment (autoescaped) over ``plugins/templates``.

Every value from the state store, the data or the LLM reaches the page through a template, which
escapes it for HTML; only the server-drawn SVG of :mod:`.charts` (escaped there) is marked safe.

Errors: a browser's request (``Accept`` names ``text/html``) is answered with an error page in the
plugin's layout (:func:`error_page`): the status, the message and a link back to the models; every other
client (the pages' own ``fetch()``, curl, the API's clients) keeps FastAPI's JSON ``{"detail": ...}``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

TEMPLATES = Path(__file__).parent / "templates"
#: Scripts the pages load (files, not inline, so a strict Content-Security-Policy can forbid inline ones).
ASSETS = {"approvals.js": "text/javascript", "links.js": "text/javascript"}

router = APIRouter(tags=["assets"])


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    """A script of the pages (public: it holds no data)."""
    if name not in ASSETS:
        raise HTTPException(404, f"no asset {name!r}")
    return Response((TEMPLATES / name).read_bytes(), media_type=ASSETS[name], headers={"Cache-Control": "max-age=300"})


def when(value: Any) -> str:
    """A time of the state store as the pages show it, with its zone: ``2026-01-05 14:30 UTC`` (the store keeps
    UTC; an aware time is converted); ``-`` for none. Every page's times go through it, so none writes the zone
    itself."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return "-" if value in (None, "") else str(value)


def time_element(value: Any) -> Any:
    """A time as the templates show it (their ``when`` filter): :func:`when`'s text in a ``<time>`` element whose
    ``datetime`` is the UTC instant, which ``links.js`` shows in the zone chosen in Airflow's UI (the text stays
    UTC without script or a zone). Anything but a time is :func:`when`'s text, escaped.

    :param value: a time of the state store (naive: UTC), or anything else.
    """
    from markupsafe import Markup, escape

    if not isinstance(value, datetime):
        return escape(when(value))
    utc = value.astimezone(timezone.utc) if value.tzinfo is not None else value
    return Markup('<time datetime="{}">{}</time>').format(f"{utc:%Y-%m-%dT%H:%M:%S}Z", when(value))


def shorten(text: Any, limit: int = 220) -> str:
    """``text`` whole when it has at most ``limit`` characters, else cut at the last word that fits, with
    an ellipsis (a word longer than most of ``limit`` is cut where it reaches it).

    :param text: the text (None: "").
    :param limit: the most characters kept before the ellipsis.
    """
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if not text[limit].isspace():
        at = cut.rstrip().rfind(" ")
        cut = cut[:at] if at > limit // 2 else cut
    return cut.rstrip() + "\u2026"


def _pretty(value: Any) -> str:
    if value in (None, "", [], {}):
        return "-"
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def plugin_root(request: Request) -> str:
    """The plugin's URL path as the browser sees it (``/agentic-mlops`` behind Airflow's base path)."""
    return str(request.scope.get("root_path") or "").rstrip("/")


def airflow_root(request: Request) -> str:
    """The Airflow UI's URL path (the plugin's mount point removed).

    The pages are shown in an iframe of Airflow's UI (Browse > Models): a link to Airflow's own pages (a DAG,
    a run) carries ``target="_top"``, else it would open a second Airflow UI inside the iframe; Airflow's iframe
    is sandboxed without ``allow-top-navigation``, so ``links.js`` has the top window follow such a link. Links
    between the plugin's pages carry no target and stay in the iframe.
    """
    from airflow_provider_agentic_mlops.links import PLUGIN_PREFIX

    return plugin_root(request).removesuffix(PLUGIN_PREFIX)


def artifact_path(model_name: str, uri: str) -> str:
    """Path, under the plugin, of the page serving artifact ``uri`` of ``model_name``."""
    return f"/models/{quote(model_name, safe='')}/artifact?uri={quote(uri, safe='')}"


@lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.ChainableUndefined
    )
    env.filters["when"] = time_element
    env.filters["pretty"] = _pretty
    env.filters["shorten"] = shorten
    return env


def render(request: Request, template: str, *, user: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the page basics (``root``, ``airflow_root``, ``user``, ``artifact_url``)."""
    root = plugin_root(request)
    html = (
        environment()
        .get_template(template)
        .render(
            root=root,
            airflow_root=airflow_root(request),
            user=user,
            artifact_url=lambda model, uri: root + artifact_path(model, uri),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code)


def wants_html(request: Request) -> bool:
    """Whether ``request`` is a browser's page request: its ``Accept`` names ``text/html`` (``fetch()`` and
    API clients send ``*/*`` or JSON)."""
    return "text/html" in request.headers.get("accept", "").lower()


def error_page(request: Request, status_code: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The error page: ``status_code`` and ``message`` in the plugin's layout, with a link back to the models.

    :param headers: headers the error carries (e.g. ``WWW-Authenticate``).
    """
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Error"
    response = render(
        request, "error.html", user="", status_code=status_code, status=status_code, phrase=phrase, message=message
    )
    response.headers.update(headers or {})
    return response


def error_response(request: Request, status_code: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    """:func:`error_page` for a browser, ``{"detail": detail}`` for any other client."""
    if wants_html(request):
        return error_page(request, status_code, detail if isinstance(detail, str) else _pretty(detail), headers)
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """An ``HTTPException`` (a route's 404, the auth's 401, a path no route has): a page for a browser."""
    from fastapi.exception_handlers import http_exception_handler

    if not wants_html(request):
        return await http_exception_handler(request, exc)  # type: ignore[arg-type]
    return error_page(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))  # type: ignore[attr-defined]


async def validation_error(request: Request, exc: Exception) -> Response:
    """A parameter of the wrong type or range (``/decisions/abc``, ``?page=0``): for a browser, a page naming
    each parameter, its value and what it must be, instead of pydantic's JSON."""
    from fastapi.exception_handlers import request_validation_exception_handler

    if not wants_html(request):
        return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
    where = {"path": "in the URL", "query": "in the query", "body": "in the body", "header": "in a header"}
    lines = []
    for error in exc.errors():  # type: ignore[attr-defined]
        loc = [str(part) for part in error.get("loc") or ()]
        name = loc[-1] if loc else "a parameter"
        value = f" {error['input']!r}" if "input" in error and error["input"] is not None else ""
        lines.append(f"{name}{value} {where.get(loc[0], '') if loc else ''}: {error.get('msg', 'invalid')}".strip())
    return error_page(request, 422, "; ".join(lines) or "the request's parameters are not valid")
