"""Another server process for tests: the same code and test settings on the test database, with its own memory.

`OtherProcess()` starts `python -m tests.fakes.process`, which serves requests given on its stdin (one JSON object a
line: method, path, token, body) through Django's test client and answers each on stdout (status, body). Its caches
(local memory: the config cache, burki.config) are its own, as a second gunicorn worker's are: what the test process
changes must reach it through the database alone. Data must be committed to be seen (`transactional_db`).

PostgreSQL only (a second process cannot open the test run's in-memory SQLite database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.fakes.worker import PROJECT_DIR, database_url


class OtherProcess:
    def __init__(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "burki.settings_test",
            "DATABASE_URL": database_url(),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.process"],
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def request(self, method: str, path: str, *, token: str, body: Any = None) -> tuple[int, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"method": method, "path": path, "token": token, "body": body}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the other process exited ({self.proc.wait(timeout=10)})")
        answer = json.loads(line)
        return answer["status"], answer["body"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def main() -> None:
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # as pytest-django does: the test client's host is allowed, email stays in memory

    client = Client()
    for line in sys.stdin:
        spec = json.loads(line)
        response = client.generic(
            spec["method"],
            spec["path"],
            data=json.dumps(spec["body"]) if spec["body"] is not None else "",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {spec['token']}",
        )
        try:
            body = response.json()
        except ValueError:
            body = response.content.decode(errors="replace")
        sys.stdout.write(json.dumps({"status": response.status_code, "body": body}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
