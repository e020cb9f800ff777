"""The configuration reference stays complete: every settings field is in `config.example.toml` and
in README's reference table, with the model's default; nothing is documented that does not exist."""

from __future__ import annotations

import json
import tomllib
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from shared.config import Settings

REPO = Path(__file__).resolve().parents[1]
Key = tuple[str, str]  # (section as written in TOML, key)


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """("table" | "list" | "dict", the section's model)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table", annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args and issubclass(args[0], BaseModel):
        return "list", args[0]
    if origin is dict and len(args) == 2 and issubclass(args[1], BaseModel):
        return "dict", args[1]
    return None


def _section_label(name: str, kind: str) -> str:
    return {"table": f"[{name}]", "list": f"[[{name}]]", "dict": f"[{name}.NAME]"}[kind]


def settings_fields() -> dict[Key, str]:
    """Every key of every section, with its default as README writes it ("—": none)."""
    fields: dict[Key, str] = {}
    for name, field in Settings.model_fields.items():
        if field.exclude:
            continue  # not a TOML key (config_path)
        found = _model_of(field.annotation)
        assert found is not None, f"settings field {name} is not a section: document it by hand"
        kind, model = found
        for key, sub in model.model_fields.items():
            default = sub.get_default(call_default_factory=True)
            fields[(_section_label(name, kind), key)] = _render(default)
    return fields


def _render(value: Any) -> str:
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool | str | list):
        return json.dumps(value)
    if isinstance(value, int | float | Decimal):
        return format(value, "g")
    raise AssertionError(f"no rendering for a default of type {type(value)}")


def readme_reference() -> dict[Key, str]:
    text = (REPO / "README.md").read_text()
    table = text.split("### Reference", 1)[1].split("\n## ", 1)[0]
    rows: dict[Key, str] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`["):
            rows[(cells[0].strip("`"), cells[1].strip("`"))] = cells[2].strip("`")
    return rows


def example_keys() -> set[Key]:
    data = tomllib.loads((REPO / "config.example.toml").read_text())
    keys: set[Key] = set()
    for name, value in data.items():
        if isinstance(value, list):
            keys |= {(f"[[{name}]]", key) for item in value for key in item}
        elif name == "assets":
            keys |= {("[assets.NAME]", key) for asset in value.values() for key in asset}
        else:
            keys |= {(f"[{name}]", key) for key in value}
    return keys


def test_every_setting_is_in_the_readme_table_with_its_default() -> None:
    expected = settings_fields()
    documented = readme_reference()
    assert len(expected) > 30
    assert set(expected) - set(documented) == set(), "settings missing from README's reference table"
    assert set(documented) - set(expected) == set(), "README documents keys that do not exist"
    wrong = {
        key: (documented[key], default) for key, default in expected.items() if documented[key] != default
    }
    assert wrong == {}, "README default differs from the settings model: (README, model)"


def test_every_setting_is_in_the_example_config() -> None:
    missing = set(settings_fields()) - example_keys()
    assert missing == set(), "settings missing from config.example.toml"


def readme_commands() -> set[str]:
    """The subcommands README's Commands table lists (`paywatch NAME …` in the first column)."""
    section = (REPO / "README.md").read_text().split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return {line.split("`")[1].split()[1] for line in section.splitlines() if line.startswith("| `paywatch ")}


def test_every_command_is_in_the_readme_table() -> None:
    import argparse

    from paywatch.cli import build_parser

    (subcommands,) = [
        action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    commands = set(subcommands.choices)
    assert len(commands) >= 10
    assert readme_commands() == commands
