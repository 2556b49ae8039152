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


def _library_example() -> list[str]:
    section = README.split("## Using addrcode as a library", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def test_readme_library_example_runs_and_gives_what_its_comments_say(vt_reference):
    # Each line runs in turn; a line whose comment is a Python literal must evaluate to that literal.
    import ast

    scope: dict = {}
    checked = 0
    for line in _library_example():
        code, _, comment = line.partition("#")
        expected = comment.strip().split(" ")[0]
        try:
            literal = ast.literal_eval(expected)
        except (ValueError, SyntaxError):
            exec(code, scope)
            continue
        assert eval(code, scope) == literal, line
        checked += 1
    assert checked >= 2


def test_import_addrcode_loads_no_stage():
    # The package face is lazy: importing it must not import any stage (start-up time of every command).
    import subprocess
    import sys

    probe = "import addrcode, sys; print(sorted(m for m in sys.modules if m.startswith('addrcode.')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    probe = "import addrcode; print(addrcode.make_job.__module__, addrcode.Resolver.__module__)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["addrcode.batch.jobs", "addrcode.stations.resolver"]
