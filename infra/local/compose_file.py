"""docker-compose.yml read as Compose reads it, for `make run-full` to run natively.

YAML anchors and `<<:` merges resolved (PyYAML's safe loader does both), `${VAR}`, `${VAR:-default}` and
`${VAR:?error}` interpolated from the variables given, `$$` unescaped; each service's command,
environment, volumes and replica count as typed fields. Nothing here knows our services: the local
topology (infra/local/full.py) maps host names and container paths onto loopback ports and folders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it: `!override` and `!reset` (merge controls) keep their value."""


ComposeLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)
    ),
)


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty: compose refuses to start, so do we."""


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """`text` with Compose's `${...}` forms replaced from `variables` (see the module docstring)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        value = variables.get(name)
        unset = value is None or (value == "" and operator is not None and operator.startswith(":"))
        if operator is None:
            return value or ""
        if operator.endswith("-"):
            return interpolate(argument, variables) if unset else str(value)
        if unset:
            raise MissingVariable(f"{name}: {argument or 'required'}")
        return str(value)

    return _VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class Volume:
    """`source:target[:ro]`; `named` for a compose volume, else a path relative to the project."""

    source: str
    target: str
    read_only: bool
    named: bool


@dataclass(frozen=True)
class ComposeService:
    """One service of the file, interpolated."""

    name: str
    image: str | None
    command: list[str]
    environment: dict[str, str]
    volumes: list[Volume] = field(default_factory=list)
    replicas: int = 1
    profiles: list[str] = field(default_factory=list)
    one_shot: bool = False


def _environment(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    # The list form: ["KEY=value", ...].
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)


def _command(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return raw.split()
    return [str(part) for part in raw]


def _volume(raw: str) -> Volume:
    source, target, *mode = raw.split(":")
    named = not source.startswith((".", "/", "~"))
    return Volume(source=source, target=target, read_only=mode == ["ro"], named=named)


def load_services(variables: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, ComposeService]:
    """Every service of the compose file at `path`, with `variables` substituted."""
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=ComposeLoader)
    services: dict[str, ComposeService] = {}
    for name, raw in document["services"].items():

        def text(value: Any) -> str:
            return interpolate(str(value), variables)

        services[name] = ComposeService(
            name=name,
            image=raw.get("image"),
            command=[text(part) for part in _command(raw.get("command"))],
            environment={key: text(value) for key, value in _environment(raw.get("environment")).items()},
            volumes=[_volume(text(volume)) for volume in raw.get("volumes", [])],
            replicas=int((raw.get("deploy") or {}).get("replicas", 1)),
            profiles=list(raw.get("profiles", [])),
            one_shot=str(raw.get("restart", "")) == "no",
        )
    return services


def required_variables(path: Path = COMPOSE_FILE) -> set[str]:
    """The names of the file's `${VAR:?...}` variables: the secrets `.env` must set."""
    return {
        match.group(1)
        for match in _VARIABLE.finditer(path.read_text())
        if match.group(2) is not None and match.group(2).endswith("?")
    }
