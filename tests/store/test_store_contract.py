"""zarr-python's own store test suite (``zarr.testing.store.StoreTests``) run on ReferenceStore.

The suite writes through the store and reads behind its back (and the other way round); for
ReferenceStore "behind its back" is the reference file system it serves. Keys that name no
array hold their bytes as given, as in any Zarr store.

The suite's five tests of the synchronous methods (``get_sync``, ``set_sync``, ``delete_sync``)
skip themselves: those methods are an optional protocol, which ReferenceStore does not offer
(its reads go through the asynchronous HTTP engine on zarr's event loop).
"""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import sync
from zarr.testing.store import StoreTests

import lindi_core
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
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


def test_getsize_answers_from_the_references_without_reading(make_h5, serve, tmp_path):
    def build(f: h5py.File) -> None:
        f.create_dataset("z", data=np.arange(10_000, dtype="i4"), chunks=(1000,), compression="gzip")
        f.create_dataset("raw", data=np.arange(5000, dtype="f8"), chunks=(1000,))

    make_h5(build, name="sized.h5")
    server = serve(tmp_path)
    lindi_core.translate_to_file(server.url_for("sized.h5"), str(tmp_path / "sized.lindi.json"), progress=False)
    store = ReferenceStore.from_file(server.url_for("sized.lindi.json"))
    try:
        compressed = [f"z/{i}" for i in range(10)]
        assert all(isinstance(store.rfs.get(key), ChunkRef) for key in compressed + ["raw/0"])
        server.stats.reset()
        sizes = [sync(store.getsize(key)) for key in compressed + ["z/.zarray"]]
        assert server.stats.requests == 0  # the references say the sizes of compressed chunks
        prototype = default_buffer_prototype()
        for key, size in zip(compressed + ["z/.zarray", "raw/0", "raw/4"], sizes + [None, None]):
            value = sync(store.get(key, prototype))
            assert (size if size is not None else sync(store.getsize(key))) == len(value), key
        assert sync(store.getsize_prefix("z/")) == sum(len(sync(store.get(k))) for k in sync(_keys(store, "z/")))
        with pytest.raises(FileNotFoundError):
            sync(store.getsize("z/10"))
    finally:
        store.close()


async def _keys(store: ReferenceStore, prefix: str) -> list[str]:
    return [key async for key in store.list_prefix(prefix)]


def test_with_read_only_shares_the_references_not_the_connections(tmp_path):
    rfs = ReferenceFileSystem()
    rfs.set_metadata(".zgroup", {"zarr_format": 2})
    reader = ReferenceStore(rfs)
    writer = reader.with_read_only(False)
    assert reader.read_only and not writer.read_only
    assert writer.sources is not reader.sources and writer.sources.http is not reader.sources.http
    sync(writer.set("a/0", cpu.Buffer.from_bytes(b"\x07")))
    assert sync(reader.get("a/0")).to_bytes() == b"\x07"  # one overlay: the write is seen by both
    writer.close()
    assert sync(reader.get(".zgroup")).to_bytes() == b'{"zarr_format":2}'
    with pytest.raises(ValueError, match="read-only"):
        sync(reader.set("a/1", cpu.Buffer.from_bytes(b"")))
