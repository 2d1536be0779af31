"""A loopback range server that redirects, for tests of where redirects may lead."""

from __future__ import annotations

from aiohttp import web

from lindi_core.testing.range_server import RangeServer


class RedirectingServer(RangeServer):
    """A range server that also answers the paths of ``redirects`` with a 302 to their URL."""

    def __init__(self, root, redirects: dict[str, str]):
        super().__init__(root)
        self.redirects = redirects

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        target = self.redirects.get(request.path)
        if target is not None:
            raise web.HTTPFound(target)
        return await super()._answer(request)
