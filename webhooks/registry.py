"""The event types customers can subscribe to. Each producing app registers its own (in its AppConfig.ready), so
this app validates subscriptions without knowing what the producers are."""

from __future__ import annotations

from collections.abc import Mapping

_EVENT_TYPES: dict[str, str] = {}


def event_types_register(types: Mapping[str, str]) -> None:
    """Add event types (name → one-line description); registering a name again keeps the first description."""
    for name, description in types.items():
        _EVENT_TYPES.setdefault(name, description)


def event_types() -> dict[str, str]:
    return dict(_EVENT_TYPES)


def event_type_registered(name: str) -> bool:
    return name in _EVENT_TYPES
