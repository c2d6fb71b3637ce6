"""Caches of what every API request reads and rarely changes: API keys, and each number's configuration.

Each entry is stored with the configuration version of its organization (burki.models.ConfigVersion) read *before*
the entry's rows were read, and is used only while that version is still the current one, which the request reads
from the database (one indexed primary-key read, or inside the statement that records a call). The version is bumped
by a PostgreSQL trigger in the very transaction that changes any row an entry holds (the organization, its API keys,
memberships and their users, assistants, flows, numbers, telephony accounts), whatever the code path: the admin, the
API, services, QuerySet.update or raw SQL. So a revoked key, a deactivated number or a changed assistant takes
effect on the next request in every process, whichever cache backend holds the entries: there is no staleness
window, and the cache (CACHES["config"], local memory unless CONFIG_CACHE_URL says otherwise) only saves the reads.

PostgreSQL only (the triggers are): elsewhere (SQLite) nothing is cached.
"""

from __future__ import annotations

import pickle
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection

from burki.crypto import DecryptionError, decrypt_bytes, encrypt_bytes

CONFIG_VERSION_TABLE = "burki_configversion"
CACHE_ALIAS = "config"
ENTRY_TTL = 3600  # seconds: entries are checked on every use; this only bounds the memory of unused ones


def config_cache_enabled() -> bool:
    return bool(settings.CONFIG_CACHE) and connection.vendor == "postgresql"


def config_cache() -> BaseCache:
    return caches[CACHE_ALIAS]


def config_version_read(organization_id: int) -> int:
    """The organization's current configuration version (0 before its first change)."""
    with connection.cursor() as cursor:
        cursor.execute('SELECT "version" FROM "burki_configversion" WHERE "organization_id" = %s', [organization_id])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _in_process(cache: BaseCache) -> bool:
    return isinstance(cache, LocMemCache)


def cache_get(key: str) -> tuple[int, Any] | None:
    """The (version, value) cached under `key`, or None."""
    cache = config_cache()
    raw = cache.get(key)
    if raw is None or _in_process(cache):
        return raw
    try:
        return pickle.loads(decrypt_bytes(raw))  # noqa: S301  (Fernet-authenticated: only our own pickles)
    except DecryptionError:
        return None  # written with a key since retired: read again


def cached_entry(key: str, *, version: int) -> Any | None:
    """The value cached under `key` if it was read at `version`, else None."""
    entry = cache_get(key)
    if entry is None or entry[0] != version:
        return None
    return entry[1]


def cache_entry(key: str, value: Any, *, version: int) -> None:
    """Keep `value`, read at `version` (read before `value` was): used only while that version is current.

    Entries hold decrypted secrets (a number's provider credentials, its assistant's settings): in a cache outside
    this process (CONFIG_CACHE_URL, e.g. Redis) they are encrypted as the credentials are at rest (Fernet, which
    also authenticates them: nothing but our own pickles is ever unpickled)."""
    cache = config_cache()
    entry = (version, value)
    cache.set(key, entry if _in_process(cache) else encrypt_bytes(pickle.dumps(entry)), ENTRY_TTL)
