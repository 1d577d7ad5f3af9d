"""The README as a newcomer follows it on a fresh clone: every `make` target and `parentbot` command it
gives exists, every command line starts with a program the clone has (make, or one `make` put in
`.venv`), the deployment guide is on its first screen, and no link in it or in docs/ points nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doc_commands import (
    ROOT,
    code_blocks,
    make_targets_named,
    makefile_targets,
    parentbot_invocations,
    parse_error,
    shell_lines,
)

README = (ROOT / "README.md").read_text(encoding="utf-8")
FIRST_SCREEN = 25
"""Lines a newcomer sees before scrolling."""
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def test_the_two_commands_are_make_run_and_make_test() -> None:
    first = code_blocks(README, "sh")[0].splitlines()
    assert [line.partition("#")[0].strip() for line in first] == ["make run", "make test"]


def test_every_make_target_in_the_readme_is_in_the_makefile() -> None:
    named = make_targets_named(README)
    assert {"run", "test", "demo", "help"} <= named
    assert named - makefile_targets() == set()


def test_every_parentbot_command_in_the_readme_is_one_the_command_line_takes() -> None:
    invocations = parentbot_invocations(README)
    assert {"outbox", "purge", "check"} <= {words[0] for words in invocations if words}
    assert [error for words in invocations if (error := parse_error(words))] == []


def test_every_command_line_starts_with_a_program_a_fresh_clone_has() -> None:
    """`make` makes `.venv`; nothing may assume uv, rasa or python on the PATH."""
    for line in shell_lines(README):
        program = line.split()[0]
        if program.startswith(".venv/bin/"):
            assert (ROOT / program).exists(), line
        else:
            assert program in ("make", "export"), line


def test_the_deployment_guide_is_on_the_first_screen() -> None:
    first_screen = "\n".join(README.splitlines()[:FIRST_SCREEN])
    assert "](docs/deployment.md)" in first_screen
    assert "`make demo`" in first_screen


def _anchors(document: Path) -> set[str]:
    """GitHub's ids for the document's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = _HEADING.findall(document.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_link_points_at_a_file_and_heading_that_exist(document: Path) -> None:
    text = "\n".join(
        line for line in document.read_text(encoding="utf-8").splitlines() if not line.startswith("    ")
    )
    broken = []
    for link in _LINK.findall(text):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in _anchors(target)):
            broken.append(link)
    assert broken == []
