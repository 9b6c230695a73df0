"""The typed service registry: what plugins offer each other, keyed by class or Protocol.

A plugin offers an object in ``scs_register``::

    app.services.provide(Sessions, sessions, by="sessions")

and another one asks for it by the same key, getting that type back::

    sessions = app.services.get(Sessions, needed_by="messaging")

``get`` raises ``MissingServiceError`` naming who needs what and who offers what;
``find`` returns None for optional services (e.g. sessions shows messages only when
messaging is enabled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


class MissingServiceError(LookupError):
    """A plugin asked for a service no enabled plugin provides."""

    def __init__(self, key: object, needed_by: str, offered: list[str]) -> None:
        self.key = key
        self.needed_by = needed_by
        super().__init__(
            f"plugin {needed_by!r} needs service {_name(key)}, which no enabled plugin provides "
            f"(provided: {', '.join(offered) or 'none'}); enable the plugin that provides it"
        )


def _name(key: object) -> str:
    return str(getattr(key, "__qualname__", key))


class Services:
    """Objects plugins provide, one per key.

    Keys are typed ``Callable[..., T]`` rather than ``type[T]``: mypy refuses a Protocol
    where ``type[T]`` is expected, and a Protocol is the key a consumer can define
    without importing the provider.
    """

    def __init__(self) -> None:
        self._objects: dict[object, Any] = {}
        self._providers: dict[object, str] = {}

    def provide(self, key: Callable[..., T], impl: T, *, by: str) -> None:
        """Offer ``impl`` under ``key`` (a class or Protocol); ``by`` is the plugin's name."""
        if key in self._objects and self._providers[key] != by:
            raise ValueError(
                f"service {_name(key)} is provided by plugin {self._providers[key]!r} "
                f"already; plugin {by!r} cannot provide it too"
            )
        self._objects[key] = impl
        self._providers[key] = by

    def get(self, key: Callable[..., T], *, needed_by: str) -> T:
        """The service under ``key``; ``MissingServiceError`` names ``needed_by`` if absent."""
        try:
            return cast("T", self._objects[key])
        except KeyError:
            offered = sorted(f"{_name(k)} ({self._providers[k]})" for k in self._objects)
            raise MissingServiceError(key, needed_by, offered) from None

    def find(self, key: Callable[..., T]) -> T | None:
        """The service under ``key``, or None (for optional collaborations)."""
        return cast("T | None", self._objects.get(key))

    def remove(self, key: Callable[..., T]) -> T | None:
        """Withdraw a service (e.g. at shutdown); the object, or None."""
        self._providers.pop(key, None)
        return cast("T | None", self._objects.pop(key, None))

    def provider(self, key: Callable[..., Any]) -> str | None:
        """The plugin that provides ``key``, or None."""
        return self._providers.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._objects
