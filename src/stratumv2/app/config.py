"""One config loader for every role: TOML file, then flags on top, checked by pydantic.

A role describes its settings as a pydantic model (``extra="forbid"``, so a misspelt key is
an error). The file's keys are the flags' names with ``-`` written as ``_``; tables such as
``[policy]`` map to nested models. Errors name the key, the file and its line, and what was
expected, e.g. ``pool.toml:7: share_batch_size: Input should be a valid integer (got "ten")``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound=BaseModel)


class ConfigError(Exception):
    """A config file or flag that cannot be used; the message says which key and why."""


class Settings(BaseModel):
    """Base class of every role's settings: unknown keys are refused, values are checked."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)


def _find_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line number of a dotted key in TOML text (1-based), or None."""
    keys = [str(k) for k in loc if isinstance(k, str)]
    if not keys:
        return None
    section = ".".join(keys[:-1])
    leaf = keys[-1]
    current = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[+\s*([^\]]+?)\s*\]+", line)
        if header:
            current = header.group(1)
            if not section and current == leaf:
                return number
            continue
        if re.match(rf"^\"?{re.escape(leaf)}\"?\s*=", line) and current == section:
            return number
        if not section and current == "" and re.match(rf"^{re.escape(leaf)}\s*=", line):
            return number
    return None


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    model: type[T], path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> T:
    """Read ``path`` (TOML, optional), apply ``overrides`` (flags given), validate as ``model``.

    ``overrides`` holds only the flags the user actually gave (None values are ignored).
    """
    data: dict[str, Any] = {}
    text = ""
    where = "command line"
    if path is not None:
        p = Path(path)
        where = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    flags = {k.replace("-", "_"): v for k, v in (overrides or {}).items() if v is not None}
    flags = {k: v for k, v in flags.items() if not (isinstance(v, tuple | list) and not v)}
    merged = _merge(data, flags)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(k) for k in loc) or "(top level)"
            from_flag = bool(loc) and str(loc[0]) in flags
            line = None if from_flag else _find_line(text, loc)
            origin = "flag" if from_flag else where + (f":{line}" if line else "")
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(sorted(_field_names(model, loc[:-1])))
                msg = f"unknown key (expected one of: {allowed})"
            elif "input" in err and err["type"] != "missing":
                msg = f"{msg} (got {err['input']!r})"
            problems.append(f"{origin}: {key}: {msg}")
        raise ConfigError("\n".join(problems)) from None


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None or not isinstance(field.annotation, type):
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}).keys())
