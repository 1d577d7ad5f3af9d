"""Each test is sorted by what it uses (tests/conftest.py), so `make test-fast` leaves out exactly the tests
that need the model, the Bot API server, PostgreSQL or other processes, and every PostgreSQL test runs on
one worker of `make test` (a fault test stops the server under them)."""

from __future__ import annotations

import importlib.util
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import conftest
from tests.databases import fresh_postgres_schema


@dataclass
class FakeItem:
    """As much of a collected pytest item as the sorting hook reads."""

    name: str
    function: Any
    module: types.ModuleType
    fixturenames: tuple[str, ...] = ()
    markers: list[str] = field(default_factory=list)

    def add_marker(self, mark: pytest.MarkDecorator) -> None:
        self.markers.append(f"{mark.name}:{mark.args[0]}" if mark.args else mark.name)


def _plain() -> None:
    assert 1 + 1 == 2


def _own_schema() -> None:
    with fresh_postgres_schema():
        pass


MODULES = {
    "plain": "def test_x():\n    pass\n",
    "processes": "import subprocess\n\ndef test_x():\n    subprocess.run(['true'])\n",
    "server": "from tests import telegram_harness\n\ndef test_x():\n    pass\n",
}


def _module(tmp_path: Path, source: str) -> types.ModuleType:
    """A test module with this source, imported from a file (the hook reads modules' source)."""
    path = tmp_path / "test_sorted.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("module", "name", "function", "fixtures", "markers"),
    [
        ("plain", "test_x", _plain, (), []),
        ("plain", "test_x", _plain, ("engine",), ["slow"]),
        ("plain", "test_x[postgresql]", _plain, (), ["postgres", "xdist_group:postgresql"]),
        ("plain", "test_x", _own_schema, (), ["postgres", "xdist_group:postgresql"]),
        ("processes", "test_x", _plain, (), ["subprocess"]),
        ("server", "test_x", _plain, (), ["e2e"]),
    ],
    ids=["plain", "model", "postgresql parameter", "own schema", "processes", "bot api server"],
)
def test_each_test_is_sorted_by_what_it_uses(
    tmp_path: Path, module: str, name: str, function: Any, fixtures: tuple[str, ...], markers: list[str]
) -> None:
    item = FakeItem(name, function, _module(tmp_path, MODULES[module]), fixtures)
    conftest.pytest_collection_modifyitems([item])  # type: ignore[list-item]
    assert sorted(item.markers) == markers
