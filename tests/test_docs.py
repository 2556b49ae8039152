"""Docs that cannot drift: every command has help text and appears in the README."""

from pathlib import Path

import click
import pytest

from addrcode.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "addrcode"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


COMMANDS = list(_commands(cli))


def test_every_contract_command_exists():
    names = {path for path, _ in COMMANDS}
    for contract in ["normalize", "geocode", "encode", "resolve", "decode", "explain", "reference build",
                     "reference info", "table build", "table diff", "table verify", "key new", "key list",
                     "key rotate", "key revoke", "label", "scan", "report"]:
        assert f"addrcode {contract}" in names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help_and_is_in_the_readme(path, command):
    assert (command.help or "").strip(), f"{path} has no help text"
    assert path in README, f"{path} is not mentioned in README.md"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{path} {param.opts} has no help text"
