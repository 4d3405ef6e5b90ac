"""An area of the console or the portal (``Area``): one class whose methods answer its routes.

An area holds the context all its routes share (``self.ctx``: a ``ConsoleContext`` or a
``portal.context.PortalContext``) and marks each endpoint where it is written::

    class Gates(Area):
        @route("/api/gates/{gate}/open", "POST")
        async def api_open(self, request): ...

``Gates.routes(ctx)`` builds the area on ``ctx`` and answers its Starlette routes, in the order the endpoints
are written (methods none: GET, as Starlette's ``Route``); each app lists its areas' ``routes`` in ``AREAS``.
"""

from __future__ import annotations

from starlette.routing import Route

MARK = "area_routes"  # on an endpoint: the (path, methods) it answers


def route(path: str, *methods: str):
    """Marks an area's method as the endpoint of ``path`` for ``methods`` (none: as ``Route``'s default)."""

    def mark(endpoint):
        endpoint.__dict__.setdefault(MARK, []).append((path, list(methods) or None))
        return endpoint

    return mark


class Area:
    """What every area does: keep its context, and route the methods marked with ``route``."""

    def __init__(self, ctx):
        self.ctx = ctx

    @classmethod
    def routes(cls, ctx, *args) -> list[Route]:
        """The routes of this area built on ``ctx`` (and ``args``, what its constructor takes besides)."""
        return cls(ctx, *args).marked_routes()

    def marked_routes(self) -> list[Route]:
        written = {}
        for klass in reversed(type(self).__mro__):
            written.update(vars(klass))
        return [Route(path, getattr(self, name), methods=methods)
                for name, value in written.items() for path, methods in getattr(value, MARK, ())]
