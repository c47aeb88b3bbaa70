"""The base of every configuration section, and the loader of a root configuration from YAML and flags.

Each section lives beside the code that reads it (as Frigate keeps one file per config section) and
receives only its own section; the root object is assembled once, in pipeline/config.py. Every field
carries its default and a description, from which config.example.yaml is generated.
"""

from __future__ import annotations

import os
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import UserError


class Section(BaseModel):
    # Unknown keys are refused rather than ignored: a misspelt threshold that silently falls back to
    # its default is how a site ends up crying wolf. No inf or NaN anywhere: a time of .inf would
    # overflow a buffer size or a deadline deep inside.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def describe_error(err: ValidationError, where: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    return f"invalid config {where}: {loc + ': ' if loc else ''}{msg}{more}"


def _set_path(data: dict, dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"invalid override {dotted}: {part} is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`motion.bg_alpha=0.02` -> ("motion.bg_alpha", 0.02); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"invalid override {text!r}: expected KEY=VALUE, e.g. crowding.max_people=2")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        raise UserError(f"invalid override {text!r}: value is not valid YAML") from None


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load(root: type[BaseModel], path: str | None = None, overrides: list[str] | tuple[str, ...] = (),
         defaults: list[str] | tuple[str, ...] = ()):
    """Defaults, then `defaults` (`KEY=VALUE`: a command's own, e.g. the demo's), then the YAML file,
    then `KEY=VALUE` overrides, validated as `root`; every failure is a UserError of one line."""
    data: dict = {}
    for text in defaults:
        key, value = parse_override(text)
        _set_path(data, key, value)
    where = "defaults"
    if path:
        where = path
        if not os.path.isfile(path):
            raise UserError(f"config file not found: {path}")
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"invalid config {path}:{at} not valid YAML") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read config {path}: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(f"invalid config {path}: the top level must be a mapping of keys")
        data = _merged(data, loaded)
    for text in overrides:
        key, value = parse_override(text)
        _set_path(data, key, value)
    if overrides:
        where = f"{where} + overrides"
    try:
        return root.model_validate(data)
    except ValidationError as err:
        raise UserError(describe_error(err, where)) from None


def example_yaml(section: BaseModel, header: str = "") -> str:
    """A section (the root, usually) as YAML with every key, its default and its description as a comment."""
    lines = [header.rstrip()] if header else []
    _emit(section, 0, lines)
    return "\n".join(lines) + "\n"


def _emit(section: BaseModel, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    fields = dict(type(section).model_fields)
    extra = section.__pydantic_extra__ or {}
    for name in [*fields, *extra]:
        value = getattr(section, name)
        info = fields.get(name)
        doc = (info.description if info is not None else None) or (
            (type(value).__doc__ or "").strip().splitlines()[0] if isinstance(value, BaseModel) and type(
                value).__doc__ else None)
        if doc:
            lines.append(f"{pad}# {doc}")
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            _emit(value, indent + 1, lines)
        else:
            dumped = yaml.safe_dump({name: value},
                                    sort_keys=False, default_flow_style=False).rstrip()
            lines.extend(pad + line for line in dumped.splitlines())
