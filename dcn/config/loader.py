"""Load a YAML config into the typed schema, with file:line in every error.

``yaml.safe_load`` semantics (a SafeLoader subclass), plus: exponent floats
without a dot (``5e-4``) are floats, not strings; duplicate keys are errors
(PyYAML keeps the last one silently). Line numbers come from the composed node
tree, which is walked in parallel with the loaded data.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

import yaml

from .checks import check
from .errors import ConfigError
from .schema import Config
from .typed import build, coerce, join_key, resolve_key

PathLike = Union[str, Path]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-5`` as a float (YAML 1.2 behaviour)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str, file: Optional[str] = None) -> Any:
    """YAML text -> Python data (safe loader; our float rule)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", None, file, line) from None


def key_lines(text: str, file: Optional[str] = None) -> Dict[str, int]:
    """``{'TRAIN.lr': 57, 'SCALES[0]': 8, ...}``: 1-based line of every key and list item."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return {}
    lines: Dict[str, int] = {}

    def walk(node: yaml.Node, key: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k_node, v_node in node.value:
                sub = join_key(key, str(k_node.value))
                if sub in lines:
                    raise ConfigError(f"duplicate key (first on line {lines[sub]})", sub, file,
                                      k_node.start_mark.line + 1)
                lines[sub] = k_node.start_mark.line + 1
                walk(v_node, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[join_key(key, i)] = item.start_mark.line + 1
                walk(item, join_key(key, i))

    if root is not None:
        walk(root, "")
    return lines


def _line_of(key: Optional[str], lines: Dict[str, int]) -> Optional[int]:
    """Line of ``key`` or of its nearest parent present in the file."""
    while key:
        if key in lines:
            return lines[key]
        key = re.sub(r"(\[\d+\]|\.[^.\[\]]+)$", "", key) if re.search(r"[.\[]", key) else ""
    return None


def config_from_text(text: str, file: Optional[str] = None) -> Config:
    """Parse, type and check one YAML document; errors carry ``file`` and the key's line."""
    lines = key_lines(text, file)
    data = parse_yaml(text, file)
    if data is None:  # an empty file (or only comments) would silently run on every default
        raise ConfigError("the file holds no settings (empty or only comments); an experiment config sets at "
                          "least its network and dataset", None, file, 1)
    if not isinstance(data, dict):
        raise ConfigError(f"top level must be a mapping, got {type(data).__name__}", None, file, 1)
    try:
        cfg = build(Config, data)
        check(cfg)
    except ConfigError as exc:
        raise exc.located(file, _line_of(exc.key, lines)) from None
    return cfg


def load_config(path: PathLike, overrides: Iterable[str] = ()) -> Config:
    """Read ``path`` (YAML) into a :class:`Config`, then apply ``KEY=VALUE`` overrides."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", None, str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", None, str(path)) from None
    cfg = config_from_text(text, str(path))
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """A copy of ``cfg`` with each ``section.key=value`` applied (value typed by the schema)."""
    cfg = dataclasses.replace(cfg)  # top-level copy; sections are replaced below, never mutated
    overrides = list(overrides)  # iterated twice
    for item in overrides:
        where = f"--set {item}"
        if "=" not in item:
            raise ConfigError("expected KEY=VALUE (e.g. TRAIN.lr=0.001)", None, where)
        dotted, raw = (s.strip() for s in item.split("=", 1))
        try:
            chain, leaf_tp = resolve_key(Config, dotted)
            # Strings are taken verbatim so '--set dataset.image_set=2007_trainval' stays text.
            value = raw if leaf_tp is str else parse_yaml(raw, where)
            value = coerce(value, leaf_tp, dotted)
            fld = {f.name: f for f in dataclasses.fields(chain[-1][0])}[chain[-1][1]]
            choices = fld.metadata.get("choices")
            if choices and value not in choices:
                raise ConfigError(f"{value!r} is not one of {list(choices)}", dotted)
            cfg = _set_path(cfg, [name for _, name in chain], value)
        except ConfigError as exc:
            raise exc.located(where, None) from None
    if overrides:
        try:  # once, after all of them: a rule linking two keys must not depend on their order
            check(cfg)
        except ConfigError as exc:
            raise exc.located(" ".join(f"--set {o}" for o in overrides), None) from None
    return cfg


def _set_path(obj: Any, names: list, value: Any) -> Any:
    if len(names) == 1:
        return dataclasses.replace(obj, **{names[0]: value})
    child = _set_path(getattr(obj, names[0]), names[1:], value)
    return dataclasses.replace(obj, **{names[0]: child})
