"""Chunks of arrays that LINDI 0.4 links to an HDF5 dataset instead of referencing.

LINDI 0.4 writes ``_EXTERNAL_ARRAY_LINK: {"link_type": "hdf5_dataset", "url": u, "name": n}``
for datasets with many chunks, with the HDF5 dataset's chunk shape and filters in ``.zarray``
but no chunk keys. Reading such an array as Zarr would silently give fill values, so the store
looks each requested chunk up in the HDF5 file's chunk index (h5py, through a block-cached
remote file for URLs) and then reads its bytes like any chunk reference.
"""

from __future__ import annotations

import threading

import h5py

from lindi_core.errors import ReferenceFormatError
from lindi_core.format.refs import ChunkRef
from lindi_core.io import workers
from lindi_core.io.locations import LocationPolicy


class ExternalArrayIndex:
    """Finds the byte ranges of chunks of linked HDF5 datasets; one open file per URL."""

    def __init__(self, policy: LocationPolicy):
        self.policy = policy
        self._files: dict[str, h5py.File] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"policy": self.policy}  # another process opens the linked files when it needs them

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["policy"])

    async def chunk_ref(self, link: dict, chunk_name: str, chunk_shape: list[int]) -> ChunkRef | None:
        return await workers.to_thread(self._lookup, link, chunk_name, chunk_shape)

    def _lookup(self, link: dict, chunk_name: str, chunk_shape: list[int]) -> ChunkRef | None:
        if link.get("link_type") != "hdf5_dataset" or not isinstance(link.get("url"), str):
            raise ReferenceFormatError(f"unsupported _EXTERNAL_ARRAY_LINK {link!r}")
        url, name = link["url"], str(link.get("name", ""))
        coords = [int(c) for c in chunk_name.split(".")] if chunk_shape else []
        offset = tuple(c * s for c, s in zip(coords, chunk_shape))
        with self._lock:
            dataset = self._file(url)[name]
            if dataset.chunks is None:
                start = dataset.id.get_offset()
                return None if start is None else ChunkRef(url, start, dataset.id.get_storage_size())
            info = dataset.id.get_chunk_info_by_coord(offset)
        if info.byte_offset is None:
            return None
        return ChunkRef(url, info.byte_offset, info.size, info.filter_mask)

    def _file(self, url: str) -> h5py.File:
        opened = self._files.get(url)
        if opened is None:
            location = self.policy.resolve(url)
            if location.kind == "http":
                from lindi_core.hdf5.remote_file import RemoteFile

                opened = h5py.File(RemoteFile(location.where, guard=self.policy.address_guard()), "r")
            else:
                opened = h5py.File(location.where, "r")
            self._files[url] = opened
        return opened

    def close(self) -> None:
        with self._lock:
            for opened in self._files.values():
                opened.close()
            self._files.clear()
