"""``key=value`` env arguments from the command line, checked against the env's constructor.

``collabzoo train`` and ``collabzoo eval`` both take ``--env-kwargs dataset=bundled
split=eval num_turns=2``; :func:`parse_env_kwargs` turns those strings into keyword
arguments of the env's entry point, converting each value to the type the constructor's
signature declares (its annotation, or else the type of its default):

=====================  ==========================================================
declared type          accepted text
=====================  ==========================================================
``int``                ``3``, ``-1``
``float``              ``0.5``, ``1e-3``, ``2``
``bool``               ``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case)
``str``                anything
``X | None``           ``none`` or ``null`` (any case) for ``None``, else as ``X``
``Literal[...]``       one of the listed values
``tuple[X, ...]``      ``a,b,c`` or a list literal ``[1, 2]``; items as ``X``
``dict``               a dict literal ``{'a': 1}``
other classes          an error: build the env in Python to pass one
no annotation/default  a Python/JSON literal if it parses as one, else the text
=====================  ==========================================================

An unknown key is an error that names it and lists the accepted ones (unless the
constructor takes ``**kwargs``).

>>> parse_env_kwargs("collabzoo/TLDR-v1", ["dataset=bundled", "num_turns=2"])
{'dataset': 'bundled', 'num_turns': 2}
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from collabzoo.envs.registration import spec

__all__ = ["EnvKwargsError", "convert_value", "entry_point_callable", "parse_env_kwargs"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null"}


class EnvKwargsError(ValueError):
    """A ``key=value`` env argument is malformed, unknown or of the wrong type."""


def entry_point_callable(env_id: str) -> Callable[..., Any]:
    """The class or function registered for ``env_id`` (imports its module)."""
    entry_point = spec(env_id).entry_point
    if callable(entry_point):
        return entry_point
    module, attr = entry_point.split(":")
    return getattr(importlib.import_module(module), attr)


def _signature(creator: Callable[..., Any]) -> inspect.Signature:
    try:  # resolve `from __future__ import annotations` strings when the names exist
        return inspect.signature(creator, eval_str=True)
    except Exception:
        return inspect.signature(creator)


def convert_value(text: str, annotation: Any, default: Any = inspect.Parameter.empty) -> Any:
    """Convert one command-line ``text`` to ``annotation`` (or the type of ``default``).

    Raises:
        ValueError: ``text`` is not a valid value of that type.
    """
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        if isinstance(annotation, str):  # an unresolved string annotation: best effort
            annotation = {"int": int, "float": float, "bool": bool, "str": str}.get(
                annotation.replace(" | None", "").strip(), inspect.Parameter.empty
            )
            if text.lower() in _NONE:
                return None
        if annotation is inspect.Parameter.empty:
            if default is not inspect.Parameter.empty and default is not None:
                annotation = type(default)
            else:
                return _literal(text)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        if len(members) < len(typing.get_args(annotation)) and text.lower() in _NONE:
            return None
        errors = []
        for member in members:
            try:
                return convert_value(text, member)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(" or ".join(errors) or f"cannot convert {text!r}")
    if origin is typing.Literal:
        for choice in typing.get_args(annotation):
            if str(choice) == text:
                return choice
        raise ValueError(f"expected one of {list(typing.get_args(annotation))}, got {text!r}")
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected a boolean (true/false), got {text!r}")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if annotation is str or annotation is Any:
        return text
    container = origin or annotation
    if container in (tuple, list, set, frozenset):
        return _convert_sequence(text, annotation, container)
    if container is dict:
        value = _literal(text)
        if not isinstance(value, dict):
            raise ValueError(f"expected a dict literal such as {{'a': 1}}, got {text!r}")
        return value
    if isinstance(annotation, type):
        raise ValueError(
            f"expects a {annotation.__name__}, which cannot be given as command-line text; "
            "build the env in Python to pass one"
        )
    return _literal(text)


def _convert_sequence(text: str, annotation: Any, container: type) -> Any:
    """``a,b,c`` or a Python/JSON list literal, each item converted to the item type."""
    value = _literal(text)
    if isinstance(value, list | tuple | set):
        items = [v if isinstance(v, str) else repr(v) for v in value]
    else:
        items = [t.strip() for t in text.split(",")] if text.strip() else []
    args = typing.get_args(annotation)
    if len(args) == 2 and args[1] is Ellipsis:
        types_ = [args[0]] * len(items)
    elif args and container is tuple:
        if len(args) != len(items):
            raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
        types_ = list(args)
    else:
        types_ = [args[0] if args else inspect.Parameter.empty] * len(items)
    return container(convert_value(item, t) for item, t in zip(items, types_, strict=True))


def _literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in _NONE:
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_env_kwargs(env_id: str, pairs: list[str] | None) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` into keyword arguments of the env ``env_id``.

    Args:
        env_id: A registered env id; its entry point's signature defines the keys and types.
        pairs: The ``key=value`` strings (``None`` or empty: no arguments).

    Returns:
        ``{key: converted value}`` in the given order.

    Raises:
        EnvKwargsError: A pair without ``=``, a repeated or unknown key (the message lists the
            accepted keys), or a value of the wrong type (the message names the expected type).
        collabzoo.envs.UnknownEnvError: ``env_id`` is not registered.
    """
    if not pairs:
        return {}
    creator = entry_point_callable(env_id)
    params = _signature(creator).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {
        name: p
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise EnvKwargsError(
                f"env argument {pair!r} is not of the form key=value (e.g. dataset=bundled)"
            )
        if key in result:
            raise EnvKwargsError(f"env argument {key!r} is given twice")
        if key not in accepted:
            if takes_any:
                result[key] = _literal(text)
                continue
            raise EnvKwargsError(
                f"{env_id} has no argument {key!r}; it accepts: {', '.join(accepted) or 'none'}"
            )
        param = accepted[key]
        try:
            result[key] = convert_value(text, param.annotation, param.default)
        except ValueError as error:
            raise EnvKwargsError(f"bad value for {env_id} argument {key!r}: {error}") from None
    return result
