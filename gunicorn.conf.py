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
# Burki's own request log has a line for every request (burki.middleware.RequestLogMiddleware): no access log here.
accesslog = None
