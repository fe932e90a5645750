"""Every shell block of the README runs, as a new user pastes it, in a fresh copy of the project.

Each ```bash block runs in bash from the copy's root, with its `.venv/bin/harness` and
`.venv/bin/harness-table` commands given small settings at their end (and `harness-report` what a
marker gives) (Hydra lets the last value of
a setting win), so that a 64-round study takes seconds. An HTML comment on the lines just above a
block says how to shrink it:

    <!-- test: skip: why -->                 not run (said why)
    <!-- test: append PROGRAM: SETTINGS -->  these settings instead of the default (TINY: the tiny ones)
    <!-- test: drop lines with: TEXT -->     a line (with its continuation lines) that cannot run here
    <!-- test: first: COMMAND -->            run before the block (what it reads, made small)
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY, clone_env, copy_project

DEFAULTS = {"harness": "TINY study.rounds=2", "harness-table": "TINY study.rounds=2", "harness-report": ""}
PROGRAMS = tuple(DEFAULTS)


@dataclass
class Block:
    line: int
    code: str
    skip: str = ""
    append: dict[str, str] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    first: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line != "```bash":
            continue
        end = lines.index("```", i + 1)
        block = Block(i + 1, "\n".join(lines[i + 1 : end]))
        j = i - 1
        while j >= 0 and (marker := re.fullmatch(r"<!-- test: (.*) -->", lines[j])):
            kind, _, value = marker.group(1).partition(": ")
            if kind == "skip":
                block.skip = value
            elif kind.startswith("append "):
                block.append[kind.removeprefix("append ")] = value
            elif kind == "drop lines with":
                block.drop.append(value)
            elif kind == "first":
                block.first.append(value)
            else:
                raise AssertionError(f"README.md line {j + 1}: unknown test marker {lines[j]!r}")
            j -= 1
        found.append(block)
    return found


def script(block: Block) -> str:
    tiny = " ".join(TINY)
    commands = []
    for line in block.code.replace("\\\n", " ").splitlines():
        if not any(text in line for text in block.drop):
            commands.append(line)
    settings = {p: block.append.get(p, DEFAULTS[p]).replace("TINY", tiny) for p in PROGRAMS}
    wrappers = [f'function .venv/bin/{p} {{ command .venv/bin/{p} "$@" {settings[p]}; }}' for p in PROGRAMS]
    first = [c.replace("TINY", tiny) for c in reversed(block.first)]  # markers are read bottom-up
    return "\n".join(["set -euo pipefail", *first, *wrappers, *commands, "wait"]) + "\n"


README = (ROOT / "README.md").read_text()
BLOCKS = blocks(README)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("clone"))


def test_the_readme_has_its_blocks_and_each_marker_is_understood():
    assert len(BLOCKS) >= 10
    assert BLOCKS[0].code.startswith("make run") and BLOCKS[0].skip


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.skip], ids=lambda b: f"line{b.line}")
def test_a_readme_block_runs_from_a_fresh_copy(clone, block):
    out = subprocess.run(
        ["bash", "-c", script(block)],
        cwd=clone,
        env=clone_env(clone),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, (
        f"README.md block at line {block.line}:\n{script(block)}\n{out.stderr[-3000:]}"
    )
    assert "Traceback" not in out.stderr
