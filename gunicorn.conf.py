"""gunicorn's settings for Burki, read by `gunicorn burki.wsgi:application` started from this folder (the Procfile's
`web`). Options given on the command line win over these."""

from __future__ import annotations

import os

# HOST 127.0.0.1 behind a reverse proxy on the same machine (the README's guide); 0.0.0.0 to be reached from others.
bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
# Threaded workers: a request waiting on the database or a provider's API (up to TELEPHONY_TIMEOUT) holds a thread,
# not a process. Two processes of four threads serve a small deployment; raise WEB_CONCURRENCY with the CPUs.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 4)
# A request never lasts this long (provider calls time out after seconds): a worker stuck this long is restarted.
timeout = 30
graceful_timeout = 20
# gunicorn's control socket (for gunicornc) is one path per user by default: a second server of the same user (another
# deployment, the tests, `make bench`) would take it over. Nothing here uses it.
control_socket_disable = True
# gunicorn's own lines (starting, booting a worker, a worker timing out) in Burki's format: JSON lines unless
# LOG_FORMAT=text, masked and redacted like every other (burki.logging needs no Django: the master loads no app).
_format = "text" if os.environ.get("LOG_FORMAT") == "text" else "json"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_urls": {"()": "burki.logging.RedactUrls"},
        "mask_phone_numbers": {"()": "burki.logging.MaskPhoneNumbers"},
    },
    "formatters": {
        "json": {"()": "burki.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _format,
            "filters": ["redact_urls", "mask_phone_numbers"],
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        # No access lines: the request log has one for every request (a logging config would turn them on).
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
