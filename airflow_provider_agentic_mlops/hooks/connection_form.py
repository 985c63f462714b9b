"""Connection form fields for Airflow 3.1, derived from provider info's ``conn-fields``.

Airflow 3.2+ builds the connection form from ``conn-fields`` and ``ui-field-behaviour`` in
provider info and no longer calls hook methods. Airflow 3.1 ignores both keys and calls the hook's
``get_connection_form_widgets()`` / ``get_ui_field_behaviour()``; it looks for them in the hook
class's own ``__dict__`` (not inherited), so each hook class is decorated with
:func:`with_connection_form`, which sets them there.

Both read :func:`~airflow_provider_agentic_mlops.get_provider_info.get_provider_info`, so the
fields are declared once. wtforms and flask_appbuilder are imported only when called (3.1's API
server stands in mocks for them when FAB is not installed).
"""

from __future__ import annotations

from typing import Any, TypeVar

HookClass = TypeVar("HookClass", bound=type)


def _connection_type(conn_type: str) -> dict[str, Any]:
    from airflow_provider_agentic_mlops.get_provider_info import get_provider_info

    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == conn_type:
            return entry
    raise KeyError(f"connection type {conn_type!r} is not declared in get_provider_info()['connection-types']")


def connection_form_widgets(cls: Any) -> dict[str, Any]:
    """wtforms fields for the extras of ``cls.conn_type``, one per ``conn-fields`` entry.

    :param cls: the hook class (this is assigned as a classmethod).
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, field in _connection_type(cls.conn_type).get("conn-fields", {}).items():
        schema = field.get("schema", {})
        types = schema.get("type", "string")
        types = [types] if isinstance(types, str) else list(types)
        validators: list[Any] = [Optional()] if "null" in types else []
        choices = [value for value in schema.get("enum", []) if value is not None]
        if choices:
            validators.append(any_of(choices))
        label = lazy_gettext(field.get("label", name))
        description = field.get("description", "")
        if "boolean" in types:
            widgets[name] = BooleanField(label, validators=validators, description=description)
        elif "integer" in types:
            widgets[name] = IntegerField(
                label, validators=validators, description=description, widget=BS3TextFieldWidget()
            )
        else:  # string, and number (3.1 offers no float field; the hook parses the text)
            widgets[name] = StringField(
                label, validators=validators, description=description, widget=BS3TextFieldWidget()
            )
    return widgets


def ui_field_behaviour(cls: Any) -> dict[str, Any]:
    """``ui-field-behaviour`` of ``cls.conn_type`` in the shape 3.1 expects (underscored keys).

    :param cls: the hook class (this is assigned as a classmethod).
    """
    behaviour = _connection_type(cls.conn_type).get("ui-field-behaviour", {})
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def with_connection_form(cls: HookClass) -> HookClass:
    """Class decorator: give the hook ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` in its
    own ``__dict__``, where Airflow 3.1 looks for them (3.2+ reads provider info and ignores them).

    :param cls: the hook class; its ``conn_type`` must be declared in provider info.
    """
    cls.get_connection_form_widgets = classmethod(connection_form_widgets)  # type: ignore[attr-defined]
    cls.get_ui_field_behaviour = classmethod(ui_field_behaviour)  # type: ignore[attr-defined]
    return cls
