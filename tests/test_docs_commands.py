"""The commands the README and docs/ show: every one is a command line `cer` accepts, and the
output the README shows for its first command is what that command prints."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cer.cli import build_parser
from cer.core.registry import expert_names

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CODE_BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
SPEC_PLACEHOLDER = "afew:/data/AFEW:Train_AFEW"  # what `--train ...` stands for
PROBABILITY = re.compile(r"\((\d\.\d\d)\)")  # "(0.99)" after a label


def code_blocks(document: Path) -> list[str]:
    return CODE_BLOCK.findall(document.read_text(encoding="utf-8"))


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line) of every `cer` command in the documents' code blocks: continued
    lines joined, comments dropped, each side of a pipe or an `A | B` alternative apart."""
    found = []
    for document in DOCUMENTS:
        for block in code_blocks(document):
            for line in block.replace("\\\n", " ").splitlines():
                for part in re.split(r"\s+\|\s+", re.split(r"\s+#\s", line)[0]):
                    words = part.split()
                    # a command name or an option next, not prose such as "cer (the CLI)" in a tree
                    if len(words) > 1 and words[0] == "cer" and re.fullmatch(r"-?-?[a-z-]+", words[1]):
                        found.append((f"{document.name}: {part.strip()}", part.strip()))
    return found


COMMANDS = documented_commands()


def test_the_documents_show_the_commands_users_need() -> None:
    shown = {command.split()[1] for _, command in COMMANDS}
    assert {"demo", "run", "batch", "serve", "expert", "models", "eval", "cache", "fusion"} <= shown


@pytest.mark.parametrize("command", [command for _, command in COMMANDS], ids=[where for where, _ in COMMANDS])
def test_every_documented_command_is_one_cer_accepts(command: str) -> None:
    """Parsed by the real parser, with `[--option VALUE]` read as given and `...` as a split."""
    words = shlex.split(command.replace("[", "").replace("]", ""))[1:]
    words = [SPEC_PLACEHOLDER if word == "..." else word for word in words]
    try:
        args = build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"cer refuses the documented command: {command}")
    if args.command == "expert":
        assert args.name in expert_names()


@pytest.mark.offline
def test_the_readme_s_first_run_prints_what_the_readme_shows(tmp_path: Path) -> None:
    """The README's first command, run as written (offline profile, from a fresh folder), prints
    the table the README shows under it, line for line."""
    readme = REPO / "README.md"
    first_run = next(block for block in code_blocks(readme) if block.startswith("cer demo"))
    command = re.split(r"\s+#\s", first_run.splitlines()[0])[0]
    shown = next(block for block in code_blocks(readme) if block.startswith("time "))
    done = subprocess.run([sys.executable, "-m", *shlex.split(command)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    printed, documented = done.stdout.strip().splitlines(), shown.strip().splitlines()
    assert len(printed) == len(documented), done.stdout
    for line, shown_line in zip(printed, documented, strict=True):  # labels exactly, probabilities to 0.02
        assert PROBABILITY.sub("(p)", line) == PROBABILITY.sub("(p)", shown_line), done.stdout
        numbers = [float(n) for n in PROBABILITY.findall(line)]
        assert numbers == pytest.approx([float(n) for n in PROBABILITY.findall(shown_line)], abs=0.02), done.stdout


@pytest.mark.offline
def test_the_python_examples_run_as_shown_on_a_real_clip(tmp_path: Path, shared_data: Path) -> None:
    """The README's and docs/outputs.md's Python examples, run as written from a folder holding a
    clip.mp4 (the shared smiling face): they work, and say what their comments say."""
    (tmp_path / "clip.mp4").write_bytes((shared_data / "single_face.mp4").read_bytes())
    examples = [block for document in (REPO / "README.md", REPO / "docs" / "outputs.md") for block in python_blocks(document)]
    assert len(examples) == 2
    done = subprocess.run([sys.executable, "-c", "\n".join(examples)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "basic only: Happiness" == lines[1]  # each example's decision line
    assert lines[2].startswith("0.00-2.40 s basic only: Happiness (")  # the one window of the 2.4 s clip
    assert lines[3] == "1 basic only: Happiness None"  # its one person, the video's decision, no speech
    assert (tmp_path / "out" / "result.json").is_file()


def python_blocks(document: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", document.read_text(encoding="utf-8"), re.S | re.M)
