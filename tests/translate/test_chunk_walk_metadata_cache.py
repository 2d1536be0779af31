"""The chunk-index walk caps libhdf5's metadata cache of the file, and puts its configuration
back afterwards.

libhdf5 grows a file's metadata cache towards 32 MB as a walk reads the index's pages, each
cached page costing about ten times its accounted size (a walk of 10,000,000 chunks left 118 MB
more resident; 20 MB under the cap). The walk reads every page once, so the cap costs no
reads; what stays is what the translator's own memory (its table) holds.
"""

from __future__ import annotations

import h5py
import numpy as np

from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.translate import chunks as chunking


def walk(path: str, configure=None) -> tuple[ReferenceFileSystem, list[int], int, int]:
    """Walk the chunk index of ``x``; (refs, the cache's max size at each batch of the walk,
    the cache's max size after it, and before it)."""
    during: list[int] = []
    with h5py.File(path) as f:
        if configure is not None:
            configure(f.id)
        before = f.id.get_mdc_config().max_size
        dset = f["x"]
        rfs = ReferenceFileSystem()
        chunking.chunked_refs(rfs, "x", str(path), dset.id, dset.shape, dset.chunks,
                              on_chunks=lambda *_: during.append(f.id.get_mdc_config().max_size))
        after = f.id.get_mdc_config().max_size
    return rfs, during, after, before


def h5py_refs(path: str) -> dict[str, ChunkRef]:
    with h5py.File(path) as f:
        dset = f["x"]
        return {str(info.chunk_offset[0] // dset.chunks[0]): ChunkRef(str(path), info.byte_offset, info.size)
                for info in (dset.id.get_chunk_info(i) for i in range(dset.id.get_num_chunks()))}


def test_the_walk_runs_under_a_small_metadata_cache_and_restores_the_files(make_h5, monkeypatch):
    monkeypatch.setattr(chunking, "BATCH", 1000)
    monkeypatch.setattr(chunking, "CAPPED_WALK_CELLS", 5000)  # (a grid of that many: the cap applies)
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(40_000, dtype="<i8"), chunks=(8,)))
    rfs, during, after, before = walk(path)
    assert len(during) == 5 and set(during) == {chunking.WALK_METADATA_CACHE}
    assert before == after == 32 << 20  # libhdf5's default, back once the walk is done
    assert dict(rfs.chunk_refs("x")) == h5py_refs(path)


def test_a_files_own_metadata_cache_configuration_is_restored(make_h5, monkeypatch):
    monkeypatch.setattr(chunking, "BATCH", 100)  # (batches are reported during the walk)
    monkeypatch.setattr(chunking, "CAPPED_WALK_CELLS", 500)
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(4000, dtype="<i8"), chunks=(8,)))

    def configure(fid):
        config = fid.get_mdc_config()
        config.max_size = 8 << 20
        fid.set_mdc_config(config)

    rfs, during, after, before = walk(path, configure)
    assert set(during) == {chunking.WALK_METADATA_CACHE}
    assert before == after == 8 << 20
    assert dict(rfs.chunk_refs("x")) == h5py_refs(path)


def test_a_small_index_is_walked_with_the_cache_as_it_is(make_h5, monkeypatch):
    monkeypatch.setattr(chunking, "BATCH", 100)
    monkeypatch.setattr(chunking, "CAPPED_WALK_CELLS", 501)
    path = make_h5(lambda f: f.create_dataset("x", data=np.arange(4000, dtype="<i8"), chunks=(8,)))
    rfs, during, after, before = walk(path)
    assert set(during) == {before} == {after}
    assert dict(rfs.chunk_refs("x")) == h5py_refs(path)
