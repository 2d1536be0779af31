"""Shared fixtures: generated HDF5 files, translation round trips and a loopback HTTP server."""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable, Iterator

import h5py
import pytest
import zarr

import lindi_core
from lindi_core.testing.range_server import RangeServer, ServerFaults

warnings.filterwarnings("ignore", category=UserWarning, module="zarr")


@pytest.fixture
def make_h5(tmp_path) -> Callable[..., str]:
    """``make_h5(builder, name="x.h5", **file_kwargs)`` writes a file with ``builder(f)``."""

    def make(builder: Callable[[h5py.File], None], name: str = "data.h5", **file_kwargs) -> str:
        path = str(tmp_path / name)
        with h5py.File(path, "w", **file_kwargs) as f:
            builder(f)
        return path

    return make


@pytest.fixture
def translated(tmp_path) -> Callable[..., tuple[zarr.Group, lindi_core.ReferenceFileSystem]]:
    """``translated(h5_path, **options)`` -> (root zarr group, reference file system), read back
    from the written ``.lindi.json`` (so every test also exercises the JSON round trip)."""
    stores = []

    def run(path: str, **kwargs):
        out = str(tmp_path / (os.path.basename(path) + ".lindi.json"))
        lindi_core.translate_to_file(path, out, progress=False, **kwargs)
        store = lindi_core.ReferenceStore.from_file(out)
        stores.append(store)
        return zarr.open_group(store, mode="r", zarr_format=2), store.rfs

    yield run
    for store in stores:
        store.close()


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., RangeServer]]:
    """``serve(folder=tmp_path, latency=0, faults=None, **options)`` starts a loopback range server."""
    servers: list[RangeServer] = []

    def start(folder: str | os.PathLike | None = None, *, latency: float = 0.0,
              faults: ServerFaults | None = None, **options) -> RangeServer:
        # The server runs in a thread of this process. Were the cyclic garbage collector to run
        # there and finalise an h5py-backed object (hdmf's IO objects close files in __del__),
        # it would wait for h5py's global lock, which the main thread holds while h5py reads a
        # remote file from this very server: a deadlock only an in-process server can cause.
        # Collect the garbage now, in the main thread, so there is none to finalise there.
        gc.collect()
        server = RangeServer(folder or tmp_path, latency=latency, faults=faults, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
