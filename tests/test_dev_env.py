"""`make run` writes a .env for development when there is none (manage.py write_dev_env), so that the README's commands
work in a new shell; and everything follows the one configured base URL, whatever port `make run` serves on."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import environ
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from burki.devenv import dev_env_text, dotenv_values, former_development_credentials_key
from tests.fakes.support import PROJECT_ROOT

pytestmark = pytest.mark.django_db

URL_8310 = "http://127.0.0.1:8310"


def write(path: Path, **options: Any) -> str:
    out = StringIO()
    call_command("write_dev_env", "--path", str(path), stdout=out, **options)
    return out.getvalue()


def a_new_shell(env_file: Path, **extra: str) -> dict[str, str]:
    """A shell's environment with none of the settings: only what the file (and `extra`) give."""
    settings = ("DEBUG", "SECRET_KEY", "CREDENTIALS_ENCRYPTION_KEYS", "PUBLIC_BASE_URL", "DJANGO_", "CELERY_", "LOG_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(settings)}
    return {**env, "BURKI_ENV_FILE": str(env_file), "DATABASE_URL": f"sqlite:///{env_file.parent / 'db.sqlite3'}",
            "CELERY_BROKER_FOLDER": str(env_file.parent / "broker"), **extra}  # fmt: skip


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and project)
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@override_settings(PUBLIC_BASE_URL=URL_8310)
def test_write_dev_env_writes_debug_generated_keys_and_the_base_url_in_effect(tmp_path: Path) -> None:
    path = tmp_path / ".env"

    output = write(path)

    values = dotenv_values(path)
    assert f"Wrote {path}" in output
    assert values["DEBUG"] == "1"
    assert values["PUBLIC_BASE_URL"] == URL_8310
    assert values["WEBHOOK_ALLOW_PRIVATE_DESTINATIONS"] == "1"
    assert len(values["SECRET_KEY"]) >= 50
    newest, former = values["CREDENTIALS_ENCRYPTION_KEYS"].split(",")
    assert Fernet(newest).decrypt(Fernet(newest).encrypt(b"x")) == b"x"
    assert former == former_development_credentials_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_each_written_env_has_keys_of_its_own(tmp_path: Path) -> None:
    write(tmp_path / "one")
    write(tmp_path / "two")
    first, second = dotenv_values(tmp_path / "one"), dotenv_values(tmp_path / "two")

    assert first["SECRET_KEY"] != second["SECRET_KEY"]
    assert first["CREDENTIALS_ENCRYPTION_KEYS"] != second["CREDENTIALS_ENCRYPTION_KEYS"]


def test_django_environ_reads_the_written_file_as_written(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    write(path)

    class Isolated(environ.Env):
        ENVIRON: dict[str, str] = {}  # read_env fills this instead of os.environ

    Isolated.read_env(str(path))

    assert dotenv_values(path) == Isolated.ENVIRON


def test_an_existing_env_is_never_changed(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("DEBUG=0\nSECRET_KEY=mine\n")

    output = write(path)

    assert path.read_text() == "DEBUG=0\nSECRET_KEY=mine\n"
    assert output == ""


@override_settings(PUBLIC_BASE_URL=URL_8310)
def test_a_run_on_another_port_than_the_env_says_tells_how_other_shells_follow_it(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(dev_env_text(public_base_url="http://127.0.0.1:8000"))
    before = path.read_text()

    output = write(path)

    assert path.read_text() == before
    assert "PUBLIC_BASE_URL=http://127.0.0.1:8000, but this run serves http://127.0.0.1:8310" in output
    assert "export PUBLIC_BASE_URL=http://127.0.0.1:8310" in output


def test_without_a_env_a_new_shell_cannot_run_a_command_and_with_the_written_one_it_can(tmp_path: Path) -> None:
    path = tmp_path / ".env"

    refused = manage("check", env=a_new_shell(path))
    write(path, public_base_url=URL_8310)
    checked = manage("check", env=a_new_shell(path))

    assert refused.returncode != 0
    assert "SECRET_KEY is required unless DEBUG is on" in refused.stderr
    assert checked.returncode == 0, checked.stderr


def test_every_command_follows_the_base_url_the_env_file_gives_and_the_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    write(path, public_base_url="http://127.0.0.1:8000")
    shell = a_new_shell(path)
    assert manage("migrate", "--noinput", "-v0", env=shell).returncode == 0

    from_file = manage("seed_demo", env=shell)
    # `make run PORT=8310` after a .env written for port 8000: make exports PUBLIC_BASE_URL, and the environment wins.
    exported = manage("seed_demo", env={**shell, "PUBLIC_BASE_URL": URL_8310})

    assert from_file.returncode == 0, from_file.stderr
    assert "curl -X POST http://127.0.0.1:8000/calls/initiate" in from_file.stdout
    assert exported.returncode == 0, exported.stderr
    assert f"curl -X POST {URL_8310}/calls/initiate" in exported.stdout
    assert f"{URL_8310}/admin/" in exported.stdout
    assert ":8000" not in exported.stdout


@override_settings(PUBLIC_BASE_URL=URL_8310)
def test_seed_demo_prints_only_the_configured_base_url() -> None:
    out = StringIO()

    call_command("seed_demo", stdout=out)

    assert f"curl -X POST {URL_8310}/calls/initiate" in out.getvalue()
    assert ":8000" not in out.getvalue()


@override_settings(PUBLIC_BASE_URL="http://127.0.0.1:9")  # nothing listens on the discard port
def test_place_test_call_simulate_names_the_base_url_it_could_not_reach(number: Any) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError) as refused:
        call_command(
            "place_test_call", "--from", number.phone_number, "--to", "+14155550199", "--simulate", stdout=StringIO()
        )

    assert "http://127.0.0.1:9" in str(refused.value)
    assert "PUBLIC_BASE_URL" in str(refused.value)


def test_the_makefile_exports_the_base_url_of_its_own_host_and_port() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()

    assert "run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)" in makefile
    run_recipe = makefile.split("\nrun: install\n", 1)[1].split("\n\n", 1)[0]
    assert run_recipe.splitlines()[0].strip() == "$(BIN)/python manage.py write_dev_env"
