"""The installed environment is the one the lock promises: current aiohttp, and Rasa's unused parts left out.

Rasa 3.6 caps aiohttp below 3.10 (releases with published advisories); pyproject.toml lifts the cap and
leaves out what Rasa declares but the bot never imports. These tests read the environment `make test`
runs in, so a lock that drifts back fails here.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def test_aiohttp_is_past_the_releases_with_advisories() -> None:
    assert _release(metadata.version("aiohttp")) >= (3, 12, 14)


@pytest.mark.parametrize(
    ("distribution", "module"),
    [
        ("confluent-kafka", "confluent_kafka"),
        ("rocketchat-API", "rocketchat_API"),
        ("mattermostwrapper", "mattermostwrapper"),
        ("psycopg2-binary", "psycopg2"),
        ("torch", "torch"),
    ],
)
def test_parts_of_rasa_the_bot_never_imports_are_not_installed(distribution: str, module: str) -> None:
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version(distribution)
    assert importlib.util.find_spec(module) is None


def test_the_nlu_still_imports_without_them() -> None:
    """What the bot loads from Rasa (model loading, training) imports cleanly without the parts left out."""
    import rasa.core.agent
    import rasa.model_training

    assert callable(rasa.model_training.train_nlu)
    assert hasattr(rasa.core.agent, "Agent")


def test_readme_names_the_python_release_and_the_way_off_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "3.10.22" in readme
    assert "Rasa Open Source 3.6" in readme
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "## The way off Python 3.10" in architecture
    assert "RASA_URL" in architecture
