"""Fixtures of the io tests."""

from __future__ import annotations

import pytest

from lindi_core.io.address_guard import AddressGuard, AddressSpace


@pytest.fixture
def spaces(monkeypatch):
    """Ports of loopback servers standing for addresses of another space."""
    table: dict[int, AddressSpace] = {}
    real = AddressGuard.space_of

    def space_of(self, address, port):
        if address == "127.0.0.1" and port in table:
            return table[port]
        return real(self, address, port)

    monkeypatch.setattr(AddressGuard, "space_of", space_of)
    return table
