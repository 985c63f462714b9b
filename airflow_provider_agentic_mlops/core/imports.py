"""``"package.module:function"`` references in models.yaml (data sources, training callables), imported
when a task runs, on the worker."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def import_function(spec: str, *, role: str, returning: str) -> Callable[..., Any]:
    """The function ``"package.module:function"`` names.

    :param spec: the reference as written.
    :param role: what it is, said first in an error (``"reference data"``, ``"python_callable"``).
    :param returning: what the function must return, for the fix an error suggests.
    :raises ValueError: the module cannot be imported (or raises while importing) or has no such
        function, naming the value and the fix.
    """
    module_name, _, attr = spec.strip().partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while importing
        raise ValueError(
            f"{role} '{spec}': cannot import module '{module_name}' ({type(exc).__name__}: {exc}). Install it "
            f"where the tasks run, or fix the value: 'package.module:function' {returning}."
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(
            f"{role} '{spec}': module '{module_name}' has no function '{attr}'. Fix the value: "
            f"'package.module:function' {returning}."
        )
    return fn


__all__ = ["import_function"]
