"""Turn plain YAML data into the typed dataclasses, rejecting anything unexpected."""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any, Dict, List, Tuple, Union

from .errors import ConfigError
from .schema import REMOVED_KEYS

_NoneType = type(None)


def join_key(prefix: str, name: Union[str, int]) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else str(name)


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if origin is Union:
        return " or ".join("null" if a is _NoneType else type_name(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def unknown_key_error(cls: type, name: str, key: str) -> ConfigError:
    if name in REMOVED_KEYS:
        return ConfigError(f"key no longer supported; {REMOVED_KEYS[name]}", key)
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(name, names, n=1) or difflib.get_close_matches(
        name.lower(), [n.lower() for n in names], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    where = f"section '{key.rsplit('.', 1)[0]}'" if "." in key else "the top level"
    return ConfigError(f"unknown key in {where}{hint}", key)


def coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked/converted to type ``tp``; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin is Union:
        args = typing.get_args(tp)
        if value is None and _NoneType in args:
            return None
        inner = [a for a in args if a is not _NoneType]
        return coerce(value, inner[0], key)
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(value, tp, key)
        (item_tp,) = typing.get_args(tp)
        return [coerce(v, item_tp, join_key(key, i)) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _type_error(value, tp, key)
        return build(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():  # 1000.0 is still a count
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # YAML reads .inf / .nan: no setting means that
                raise ConfigError(f"expected a finite number, got {value!r}", key)
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported schema type {tp!r} for {key}")
    raise _type_error(value, tp, key)


def _type_error(value: Any, tp: Any, key: str) -> ConfigError:
    got = "null" if value is None else type(value).__name__
    return ConfigError(f"expected {type_name(tp)}, got {got} ({value!r})", key)


def field_types(cls: type) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type, data: Dict[str, Any], prefix: str = "") -> Any:
    """An instance of dataclass ``cls`` from ``data``: defaults for missing keys, errors for unknown ones."""
    types = field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in data.items():
        key = join_key(prefix, str(name))
        if name not in fields:
            raise unknown_key_error(cls, str(name), key)
        value = coerce(value, types[name], key)
        choices = fields[name].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{value!r} is not one of {list(choices)}", key)
        kwargs[name] = value
    return cls(**kwargs)


def resolve_key(cls: type, dotted: str) -> Tuple[List[Tuple[type, str]], Any]:
    """Walk ``a.b.c`` through the schema: ([(owner class, field name), ...], leaf type)."""
    chain, tp, prefix = [], cls, ""
    for name in dotted.split("."):
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"'{prefix}' is not a section", dotted)
        fields = {f.name for f in dataclasses.fields(tp)}
        key = join_key(prefix, name)
        if name not in fields:
            raise unknown_key_error(tp, name, key)
        chain.append((tp, name))
        tp, prefix = field_types(tp)[name], key
    return chain, tp
