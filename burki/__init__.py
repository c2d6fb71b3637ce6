# Loaded with Django, so that `shared_task`s bind to this app and `transaction.on_commit(task.delay)` can send them.
from burki.celery import app as celery_app

__all__ = ("celery_app",)
