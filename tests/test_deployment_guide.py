"""docs/deployment.md against the code and the tools it names: its systemd units verify, its backup and
restore commands (run as written, on databases the project's migrations made) bring the data back, and
every `parentbot` command, setting, metric and `make` target it names exists. A guide that drifts from
the code fails here."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot import metrics
from bot.config import Settings
from bot.nlu.client import InProcessNlu
from bot.schools import Schools
from bot.storage.database import make_engine, migrate, normalise_url
from tests.doc_commands import (
    ROOT,
    code_blocks,
    environment_names,
    make_targets_named,
    makefile_targets,
    parentbot_invocations,
    parse_error,
    setting_names,
    shell_lines,
)
from tests.telegram_harness import free_port, running_bot

GUIDE_PATH = ROOT / "docs" / "deployment.md"
GUIDE = GUIDE_PATH.read_text(encoding="utf-8")
DEPLOY = ROOT / "deploy"
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
CRON = DEPLOY / "parentbot-backup.cron"
INSTALL_DIR = "/opt/parentbot"
MIGRATIONS = ROOT / "bot" / "storage" / "migrations" / "versions"
AS_A_USER = re.compile(r"^sudo -u \S+ ")


def _head_revision() -> str:
    return sorted(path.name.split("_")[0] for path in MIGRATIONS.glob("[0-9]*.py"))[-1]


def _env_blocks() -> dict[str, str]:
    """The `.env` file the guide shows (its first ini block), as systemd and pydantic read it."""
    lines = code_blocks(GUIDE, "ini")[0].splitlines()
    return {name.strip(): value.strip() for name, _, value in (line.partition("=") for line in lines)}


def _lines_with(needle: str, lines: list[str] | None = None) -> list[str]:
    found = [line for line in (shell_lines(GUIDE) if lines is None else lines) if needle in line]
    assert found, f"docs/deployment.md no longer gives a command with {needle!r}"
    return found


@dataclass(frozen=True)
class Places:
    """Where the commands' absolute paths point in a test: a temporary tree instead of /var."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "lib"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def database(self) -> Path:
        return self.state / "parentbot.db"

    def rewrite(self, command: str) -> str:
        """The command as a test can run it: no `sudo -u`, the server's folders under `root`."""
        command = AS_A_USER.sub("", command)
        command = command.replace("/var/lib/parentbot", str(self.state))
        return command.replace("/var/backups/parentbot", str(self.backups))


@pytest.fixture
def places(tmp_path: Path) -> Places:
    places = Places(tmp_path)
    places.state.mkdir()
    places.backups.mkdir()
    return places


def _bash(
    command: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd, env=env)
    assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    return result


def _migrated(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO parents (id) VALUES ('4242')"))
    return engine


def _parents(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM parents")).scalars())


def _forget_parents(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM parents"))


def _named_backup(command: str) -> str:
    """The dated file a restore command reads (e.g. parentbot-2026-12-01.db)."""
    match = re.search(r"(parentbot-\d{4}-\d{2}-\d{2}\.\w+)", command)
    assert match, command
    return match.group(1)


# ---- names the guide uses ------------------------------------------------------------------------------


def test_every_parentbot_command_in_the_guide_is_one_the_command_line_takes() -> None:
    invocations = parentbot_invocations(GUIDE)
    assert {"run", "outbox", "purge"} <= {words[0] for words in invocations if words}
    refused = [error for words in invocations if (error := parse_error(words))]
    assert refused == []


def test_every_make_target_in_the_guide_is_in_the_makefile() -> None:
    named = make_targets_named(GUIDE)
    assert "train" in named
    assert named <= makefile_targets()


def _external_names() -> dict[str, str]:
    """The names the guide may use that are not the bot's settings, each with where it is read."""
    from rasa.engine.caching import CACHE_LOCATION_ENV

    return {CACHE_LOCATION_ENV: "Rasa's training cache", "UV_PYTHON_INSTALL_DIR": "uv's Python installs"}


def test_every_environment_variable_in_the_guide_and_the_units_is_a_setting() -> None:
    units = "\n".join(path.read_text(encoding="utf-8") for path in [*UNITS, CRON])
    set_or_read = re.findall(r"^Environment=(\w+)=|\$\{(\w+)\}", units, re.MULTILINE)
    named = environment_names(GUIDE) | {name for pair in set_or_read for name in pair if name}
    assert {"TELEGRAM_BOT_TOKEN", "DATABASE_URL", "HEALTH_PORT", "WEBHOOK_SECRET"} <= named
    assert named - setting_names() - set(_external_names()) == set()


def test_uv_puts_its_pythons_where_the_guide_says() -> None:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is neither on the PATH nor in .tools/bin")
    line = _lines_with("UV_PYTHON_INSTALL_DIR=")[0]
    folder = re.search(r"UV_PYTHON_INSTALL_DIR=(\S+)", line)
    assert folder
    environment = {**os.environ, "UV_PYTHON_INSTALL_DIR": folder.group(1)}
    shown = subprocess.run([uv, "python", "dir"], capture_output=True, text=True, env=environment, check=True)
    assert shown.stdout.strip() == folder.group(1)


def test_the_env_file_shown_is_valid_settings() -> None:
    values = _env_blocks()
    assert set(values) <= setting_names()
    settings = Settings(_env_file=None, **{name.lower(): value for name, value in values.items()})
    assert settings.health_port is not None
    assert settings.telegram_bot_token is not None


def test_every_database_url_in_the_guide_is_one_the_bot_opens_with_its_driver() -> None:
    urls = re.findall(r"DATABASE_URL=([^\s`]+)", GUIDE)
    assert any(url.startswith("postgresql://") for url in urls)
    for url in urls:
        parsed = make_url(normalise_url(url))
        assert parsed.drivername in ("sqlite", "postgresql+psycopg"), url
    sqlite = _env_blocks()["DATABASE_URL"]
    assert make_url(sqlite).database == "/var/lib/parentbot/parentbot.db"


def _exposition_names() -> set[str]:
    """What /metrics shows for each metric: counters with _total, histograms by their base name."""
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def test_the_guide_names_every_metric_by_the_name_metrics_shows() -> None:
    assert set(re.findall(r"\bparentbot_[a-z_]+[a-z]", GUIDE)) == _exposition_names()


# ---- the systemd units ---------------------------------------------------------------------------------


def _unit_copies(tmp_path: Path) -> list[Path]:
    """The units with /opt/parentbot pointing at this checkout, so their programs exist to be checked."""
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        written = unit.read_text(encoding="utf-8").replace(f"{INSTALL_DIR}/.env", str(tmp_path / ".env"))
        copy.write_text(written.replace(INSTALL_DIR, str(ROOT)), encoding="utf-8")
        copies.append(copy)
    (tmp_path / ".env").write_text("HEALTH_PORT=8089\n", encoding="utf-8")
    return copies


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed here")
    return found


def _directives(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_units_verify_without_a_warning(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    copies = _unit_copies(tmp_path)
    assert {copy.name for copy in copies} == {
        "parentbot.service",
        "parentbot-health.service",
        "parentbot-health.timer",
    }
    result = subprocess.run([analyze, "verify", *map(str, copies)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_the_service_is_as_hardened_as_the_guide_says(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    service = next(copy for copy in _unit_copies(tmp_path) if copy.name == "parentbot.service")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", str(service)], capture_output=True, text=True
    )
    score = re.search(r"Overall exposure level for parentbot.service: ([\d.]+)", result.stdout)
    stated = re.search(r"`systemd-analyze security parentbot.service`\s+rates it ([\d.]+)", GUIDE)
    assert score, result.stdout + result.stderr
    assert stated
    assert float(score.group(1)) <= float(stated.group(1))


def test_the_service_runs_parentbot_run_from_the_venv_with_the_guides_files() -> None:
    unit = _directives(DEPLOY / "parentbot.service")
    program, *arguments = unit["ExecStart"][0].split()
    assert program == f"{INSTALL_DIR}/.venv/bin/parentbot"
    assert parse_error(arguments) is None
    assert arguments == ["run"]
    assert unit["WorkingDirectory"] == [INSTALL_DIR]
    assert unit["EnvironmentFile"] == [f"{INSTALL_DIR}/.env"]
    assert f"{INSTALL_DIR}/.env" in GUIDE
    assert unit["Restart"] == ["on-failure"]
    # the bot's database and home, and Rasa's cache, are the folders systemd makes for it
    assert f"/var/lib/{unit['StateDirectory'][0]}" in _env_blocks()["DATABASE_URL"]
    assert f"--home-dir /var/lib/{unit['StateDirectory'][0]}" in GUIDE
    assert unit["Environment"] == [f"RASA_CACHE_DIRECTORY=/var/cache/{unit['CacheDirectory'][0]}"]


def test_the_service_options_the_guide_quotes_are_the_units() -> None:
    """`Name=value` in the guide is what the unit says; `Name=` alone is an option it says is left out."""
    unit = _directives(DEPLOY / "parentbot.service")
    quoted = re.findall(r"`([A-Z][A-Za-z]+)=([^`]*)`", GUIDE)
    assert {("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("Restart", "on-failure")} <= set(quoted)
    for name, value in quoted:
        if value:
            assert name not in unit or value in unit[name], (name, value)
        else:
            assert name not in unit, name


def test_the_health_check_unit_asks_the_port_the_bot_serves() -> None:
    health = _directives(DEPLOY / "parentbot-health.service")
    assert health["EnvironmentFile"] == [f"{INSTALL_DIR}/.env"]
    assert "http://127.0.0.1:${HEALTH_PORT}/healthz" in health["ExecStart"][0]
    timer = _directives(DEPLOY / "parentbot-health.timer")
    assert timer["OnUnitActiveSec"] == ["1min"]


# ---- /healthz ------------------------------------------------------------------------------------------


async def test_the_guides_health_checks_pass_against_a_running_bot(
    nlu: InProcessNlu, schools: Schools, tmp_path: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed here")
    port = free_port()
    guide_port = _env_blocks()["HEALTH_PORT"]
    checks = [line.replace(f":{guide_port}/", f":{port}/") for line in _lines_with("/healthz")]
    unit = _directives(DEPLOY / "parentbot-health.service")["ExecStart"][0]
    checks.append(unit.replace("${HEALTH_PORT}", str(port)))
    async with running_bot(nlu, schools, tmp_path, settings_overrides={"health_port": port}):
        for check in checks:
            answer = await asyncio.to_thread(
                subprocess.run, ["bash", "-c", check], capture_output=True, text=True, timeout=30
            )
            assert answer.returncode == 0, answer.stderr
            assert '"status": "ok"' in answer.stdout


# ---- SQLite: backups, restore, rollback -----------------------------------------------------------------


def _sqlite3() -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command is not installed here (Debian's sqlite3 package)")


def test_the_sqlite_backups_copy_a_running_database(places: Places) -> None:
    _sqlite3()
    engine = _migrated(f"sqlite:///{places.database}")
    try:
        for command in _lines_with(".backup"):
            _bash(places.rewrite(command))
        backups = sorted(places.backups.iterdir())
        assert {path.name for path in backups} == {
            f"parentbot-{date.today():%Y-%m-%d}.db",
            "parentbot-before-upgrade.db",
        }
        for backup in backups:
            copy = make_engine(f"sqlite:///{backup}")
            assert _parents(copy) == ["4242"]
            copy.dispose()
        (check,) = _lines_with("PRAGMA integrity_check")
        assert _bash(places.rewrite(check)).stdout.strip() == "ok"
    finally:
        engine.dispose()


def test_the_sqlite_restore_brings_the_backup_back(places: Places) -> None:
    _sqlite3()
    engine = _migrated(f"sqlite:///{places.database}")
    try:
        _bash(places.rewrite(_lines_with(".backup")[0]))
        (restore,) = _lines_with(".restore")
        shutil.copy(
            places.backups / f"parentbot-{date.today():%Y-%m-%d}.db", places.backups / _named_backup(restore)
        )
        _forget_parents(engine)
        engine.dispose()
        _bash(places.rewrite(restore))
        assert _parents(engine) == ["4242"]
    finally:
        engine.dispose()


def _cron_commands() -> list[str]:
    """The nightly cron lines' commands (PostgreSQL's commented one too), as cron's /bin/sh runs them."""
    commands = []
    for line in CRON.read_text(encoding="utf-8").splitlines():
        line = line.removeprefix("# ")
        fields = line.split(maxsplit=6)
        if len(fields) == 7 and fields[:5] == [fields[0], fields[1], "*", "*", "*"] and fields[0].isdigit():
            assert fields[5] == "parentbot", line
            commands.append(fields[6].replace("\\%", "%"))
    return commands


def test_the_nightly_sqlite_backup_and_clean_up_run(places: Places) -> None:
    _sqlite3()
    engine = _migrated(f"sqlite:///{places.database}")
    old = places.backups / "parentbot-2026-01-01.db"
    old.write_bytes(b"")
    month_ago = time.time() - 30 * 86400
    os.utime(old, (month_ago, month_ago))
    try:
        nightly = [command for command in _cron_commands() if "pg_dump" not in command]
        assert nightly[0] == AS_A_USER.sub("", _lines_with(".backup")[0])
        for command in nightly:
            subprocess.run(["sh", "-c", places.rewrite(command)], check=True)
        assert [path.name for path in places.backups.iterdir()] == [f"parentbot-{date.today():%Y-%m-%d}.db"]
    finally:
        engine.dispose()


def test_the_rollback_downgrades_to_the_revision_the_guide_names(places: Places) -> None:
    engine = _migrated(f"sqlite:///{places.database}")
    engine.dispose()
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{places.database}"}
    environment["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{environment['PATH']}"
    commands = _lines_with(".venv/bin/alembic")
    (downgrade,) = [command for command in commands if " downgrade " in command]
    target = downgrade.split()[-1]
    assert target < _head_revision()
    for command in commands:
        _bash(AS_A_USER.sub("", command), cwd=ROOT, env=environment)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == target
    migrate(engine)  # and the newer release's start brings it forward again
    assert _parents(engine) == ["4242"]
    engine.dispose()


# ---- PostgreSQL ----------------------------------------------------------------------------------------

POSTGRES = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres"}


def _postgres_answers() -> bool:
    if shutil.which("pg_isready") is None or shutil.which("pg_dump") is None:
        return False
    return subprocess.run(["pg_isready", "-q"], env={**os.environ, **POSTGRES}).returncode == 0


@pytest.fixture
def postgres_names() -> Iterator[str]:
    if not _postgres_answers():
        pytest.skip("no PostgreSQL answers on 127.0.0.1:5432 (or pg_dump is not installed)")
    name = f"parentbot_guide_{uuid.uuid4().hex[:8]}"
    yield name
    environment = {**os.environ, **POSTGRES}
    subprocess.run(["dropdb", "--if-exists", "--force", name], env=environment, check=True)
    subprocess.run(["dropuser", "--if-exists", name], env=environment, check=True)


def _for_postgres(command: str, places: Places, name: str) -> str:
    """The guide's command on the scratch role and database `name` of the local server."""
    return re.sub(r"(?<=[\s=])parentbot(?=\s|$)", name, places.rewrite(command))


def test_the_postgresql_set_up_backup_and_restore_round_trip(places: Places, postgres_names: str) -> None:
    environment = {**os.environ, **POSTGRES}
    for command in _lines_with("createuser") + _lines_with("createdb"):
        _bash(_for_postgres(command, places, postgres_names), env=environment)
    engine = _migrated(f"postgresql://postgres@127.0.0.1:5432/{postgres_names}")
    try:
        (dump,) = _lines_with("pg_dump")
        _bash(_for_postgres(dump, places, postgres_names), env=environment)
        (restore,) = _lines_with("pg_restore")
        today = places.backups / f"parentbot-{date.today():%Y-%m-%d}.dump"
        shutil.copy(today, places.backups / _named_backup(restore))
        (nightly,) = [command for command in _cron_commands() if "pg_dump" in command]
        assert nightly == AS_A_USER.sub("", dump)
        today.unlink()
        _bash(_for_postgres(nightly, places, postgres_names), env=environment)
        assert today.exists()
        _forget_parents(engine)
        engine.dispose()
        _bash(_for_postgres(restore, places, postgres_names), env=environment)
        assert _parents(engine) == ["4242"]
    finally:
        engine.dispose()
