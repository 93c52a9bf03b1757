"""Reading an experiment spec from a YAML or JSON file, with errors a person can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tricklab.schemas.spec import ExperimentSpec, ResolvedSpec, SpecError, resolve_spec


class SpecFileError(Exception):
    """A spec file that cannot be used; the message names the file and each bad field."""


def load_spec_data(path: Path) -> dict[str, Any]:
    """The file's content as a mapping (YAML is a superset of JSON, but JSON errors read better from json)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecFileError(
            f"{path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise SpecFileError(f"{path}: an experiment spec is a mapping (name, task, base, factors, ...)")
    return data


def _field(loc: tuple[str | int, ...] | list[str | int]) -> str:
    return ".".join(str(p) for p in loc) or "(spec)"


def parse_spec(data: dict[str, Any], source: str) -> ExperimentSpec:
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {_field(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise SpecFileError(f"invalid spec {source}:\n" + "\n".join(lines)) from None


def load_spec(path: Path) -> ExperimentSpec:
    """Parse and structurally validate the spec in ``path``."""
    return parse_spec(load_spec_data(path), str(path))


def load_resolved_spec(path: Path) -> ResolvedSpec:
    """Parse the spec and check it against the task and trick catalogs."""
    spec = load_spec(path)
    try:
        return resolve_spec(spec)
    except SpecError as exc:
        lines = [f"  {_field(e.loc)}: {e.msg}" for e in exc.errors]
        raise SpecFileError(f"invalid spec {path}:\n" + "\n".join(lines)) from None
