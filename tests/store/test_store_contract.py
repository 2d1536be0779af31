"""zarr-python's own store test suite (``zarr.testing.store.StoreTests``) run on ReferenceStore.

The suite writes through the store and reads behind its back (and the other way round); for
ReferenceStore "behind its back" is the reference file system it serves. Keys that name no
array hold their bytes as given, as in any Zarr store.
"""

from __future__ import annotations

import pickle

import pytest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import sync
from zarr.testing.store import StoreTests

from lindi_core.format.refs import ReferenceFileSystem
from lindi_core.store import ReferenceStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # zarr's own event loop machinery is asyncio's


class TestReferenceStoreContract(StoreTests[ReferenceStore, cpu.Buffer]):
    store_cls = ReferenceStore
    buffer_cls = cpu.Buffer

    async def set(self, store: ReferenceStore, key: str, value: Buffer) -> None:
        store.rfs.set_inline(key, value.to_bytes())

    async def get(self, store: ReferenceStore, key: str) -> Buffer:
        return self.buffer_cls.from_bytes(store.rfs.get(key))

    @pytest.fixture
    def store_kwargs(self) -> dict:
        return {"rfs": ReferenceFileSystem(), "read_only": False}

    # zarr's own suite makes these with async fixtures, which its pytest-asyncio runs for its
    # synchronous tests too; anyio's plugin runs async fixtures for async tests only.
    @pytest.fixture
    def store(self, open_kwargs: dict) -> ReferenceStore:
        return sync(self.store_cls.open(**open_kwargs))

    @pytest.fixture
    def store_not_open(self, store_kwargs: dict) -> ReferenceStore:
        return self.store_cls(**store_kwargs)

    def test_store_repr(self, store: ReferenceStore) -> None:
        assert repr(store) == "ReferenceStore(0 metadata keys, 0 chunk tables)"

    def test_store_supports_writes(self, store: ReferenceStore) -> None:
        assert store.supports_writes
        assert store.supports_deletes

    def test_store_supports_listing(self, store: ReferenceStore) -> None:
        assert store.supports_listing
        assert not store.supports_consolidated_metadata


async def test_pickled_store_is_equal_until_either_changes(anyio_backend) -> None:
    store = ReferenceStore(ReferenceFileSystem(), read_only=False)
    await store.set("a/0", cpu.Buffer.from_bytes(b"\x01\x02"))
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store and copy.rfs is not store.rfs
    assert (await copy.get("a/0")).to_bytes() == b"\x01\x02"
    await copy.set("a/1", cpu.Buffer.from_bytes(b"\x03"))
    assert copy != store  # a copy, not a view: the original has no such key
    assert await store.get("a/1", default_buffer_prototype()) is None
    assert copy != store.with_read_only(True)  # the mode counts too
