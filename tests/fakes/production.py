"""Burki as the README's production guide runs it: DEBUG=0, static files collected, gunicorn as the Procfile runs it.

`production_server` (tests/fakes/fixtures.py; session-scoped) runs `collectstatic` and `migrate` into a scratch folder
and a scratch SQLite database, then the Procfile's `web` command on a free port of 127.0.0.1, with the settings of
burki.settings (not the test settings) from the environment alone. Everything the server writes goes to a file:
`log_lines()` reads it. The server is stopped when the session ends.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
COMMAND_TIMEOUT = 300.0
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: Message
    body: bytes  # as sent: compressed when Content-Encoding says so

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def text(self) -> str:
        return self.decoded().decode()

    def decoded(self) -> bytes:
        encoding = self.header("Content-Encoding")
        if encoding == "gzip":
            return gzip.decompress(self.body)
        if encoding == "br":
            import brotli

            decompressed: bytes = brotli.decompress(self.body)
            return decompressed
        return self.body


@dataclass
class ProductionServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: Mapping[str, str] = field(repr=False)

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Fetched:
        return self.request("GET", path, headers=headers)

    def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Fetched:
        """One request, as a client sends it: no redirect followed, nothing decompressed."""
        request = urllib.request.Request(self.url + path, method=method, headers=dict(headers or {}), data=body)  # noqa: S310
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=REQUEST_TIMEOUT) as response:
                return Fetched(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Fetched(error.code, error.headers, error.read())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[str]:
        return self.log_text().splitlines()

    def log_lines_after(self, mark: int, *, settle: float = 0.3) -> list[str]:
        """The lines written since `len(log_lines())` was `mark`, once the server has had time to write them."""
        time.sleep(settle)
        return self.log_lines()[mark:]

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python manage.py …` with the server's settings (its database, its static files)."""
        return run([sys.executable, "manage.py", *args], env=self.env)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def production_env(scratch: Path, *, port: int) -> dict[str, str]:
    """The environment of a production deployment on this machine: settings from here, none from the shell's own
    DJANGO_SETTINGS_MODULE (the test settings) nor, for what the test relies on, from a .env beside manage.py."""
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "burki.settings",
            "DEBUG": "0",
            "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(40)).decode(),
            "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
            "STATIC_ROOT": str(scratch / "static"),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # Plain HTTP on the loopback: no TLS proxy in front of this one.
            "SECURE_COOKIES": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "0",
            "CELERY_BROKER_URL": "filesystem://localhost//",
            "CELERY_BROKER_FOLDER": str(scratch / "broker"),
            "CACHE_URL": "locmemcache://",
            "LOG_LEVEL": "INFO",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run(command: list[str], *, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (our own interpreter and project)
        command, cwd=PROJECT_DIR, env=dict(env), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command[1:])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def procfile_command(name: str, procfile: Path = PROJECT_DIR / "Procfile") -> str:
    for line in procfile.read_text().splitlines():
        process, colon, command = line.partition(":")
        if colon and process.strip() == name and not line.lstrip().startswith("#"):
            return command.strip()
    raise LookupError(f"no {name!r} process in {procfile}")


@contextlib.contextmanager
def serving(command: str, *, env: Mapping[str, str], log_path: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """`command` run as honcho runs a Procfile line (a shell, with .venv-less PATH: the interpreter's own bin first),
    until /healthz answers; always stopped (SIGTERM, then SIGKILL to its whole process group)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S602 (the Procfile's own line, as honcho runs it)
            command,
            shell=True,
            cwd=PROJECT_DIR,
            env={**env, "PATH": path},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode}):\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within {START_TIMEOUT:.0f}s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 (our own 127.0.0.1)
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False
