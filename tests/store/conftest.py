"""Fixtures of the store tests."""

from __future__ import annotations

import pytest

from lindi_core.store.reference_store import ReferenceStore


@pytest.fixture
def span_reads(monkeypatch):
    """What the test's span reads did: ``log`` (``("span", length)`` of each, in order) and
    the most bytes of spans being read at once (``most``)."""
    record = {"log": [], "now": 0, "most": 0}
    read_span = ReferenceStore.read_span

    async def counted(store, url, location, start, length, into=None):
        record["log"].append(("span", length))
        record["now"] += length
        record["most"] = max(record["most"], record["now"])
        try:
            return await read_span(store, url, location, start, length, into=into)
        finally:
            record["now"] -= length

    monkeypatch.setattr(ReferenceStore, "read_span", counted)
    return record
