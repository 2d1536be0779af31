"""Following HDF5 metadata pointers ahead of libhdf5: the parser finds what h5py finds, and a
remote translation waits on a few rounds per tree level instead of a round trip per object."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.format import jsonio
from lindi_core.hdf5 import metadata as md
from lindi_core.hdf5 import remote_file
from lindi_core.hdf5.remote_file import RemoteFile

FILE_LAYOUTS = {
    "symbol tables (h5py's default)": {},
    "version 2 headers, compact links": {"libver": "latest"},
    "creation order tracked": {"track_order": True},
}


def _tree(f: h5py.File, depth: int = 3, fan_out: int = 3) -> None:
    """Groups ``fan_out`` wide and ``depth`` deep, each with attributes, a small contiguous and a
    chunked dataset, 100 KB of data written between them: headers lie blocks apart."""
    rng = np.random.default_rng(0)

    def fill(group: h5py.Group, level: int) -> None:
        group.attrs["level"] = level
        group.create_dataset("spacer", data=rng.integers(0, 255, 100_000, dtype="u1"))
        group.create_dataset("chunked", data=rng.normal(size=(400, 8)), chunks=(100, 8), compression="gzip")
        if level < depth:
            for i in range(fan_out):
                fill(group.create_group(f"g{level}{i}"), level + 1)

    fill(f, 0)
    f["g00"]["soft"] = h5py.SoftLink("/g01")
    f["g01"]["hard"] = f["g02/chunked"]


def _every_header_address(f: h5py.File) -> set[int]:
    addresses = {h5py.h5o.get_info(f.id).addr}
    f.visititems(lambda _name, obj: addresses.add(h5py.h5o.get_info(obj.id).addr))
    return addresses


def _follow_all(data: bytes, root: int) -> set[md.Pointer]:
    def read(address: int, length: int) -> bytes:
        if address + length > len(data):
            raise md.NeedBytes(address, length)
        return data[address : address + length]

    seen: set[tuple[str, int]] = set()
    found: set[md.Pointer] = set()
    stack = [md.Pointer(md.HEADER, root)]
    while stack:
        pointer = stack.pop()
        if (pointer.kind, pointer.address) in seen:
            continue
        seen.add((pointer.kind, pointer.address))
        found.add(pointer)
        stack += md.pointers(pointer, read)
    return found


@pytest.mark.parametrize("layout", FILE_LAYOUTS)
def test_following_pointers_from_the_root_finds_every_object_header_h5py_finds(make_h5, layout):
    path = make_h5(_tree, name="tree.h5", **FILE_LAYOUTS[layout])
    with h5py.File(path, "r") as f:
        truth = _every_header_address(f)
        root = h5py.h5o.get_info(f.id).addr
        chunked = set()

        def note_chunked(_name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks:
                chunked.add(h5py.h5o.get_info(obj.id).addr)

        f.visititems(note_chunked)
    with open(path, "rb") as fh:
        data = fh.read()
    found = _follow_all(data, root)
    assert {p.address for p in found if p.kind == md.HEADER} == truth
    chunk_index_roots = {p.address for p in found if p.kind == md.BYTES and data[p.address : p.address + 5] == b"TREE\x01"}
    if "libver" not in FILE_LAYOUTS[layout]:  # version 3 layouts: each index a B-tree, its root fetched too
        assert len(chunk_index_roots) == len(chunked)


@pytest.mark.parametrize("libver", ["earliest", "v108", "latest"])
def test_the_superblock_names_the_root_group_h5py_opens(make_h5, libver):
    path = make_h5(lambda f: f.create_group("g"), name=f"{libver}.h5", libver=libver)
    with h5py.File(path, "r") as f:
        root = h5py.h5o.get_info(f.id).addr
    with open(path, "rb") as fh:
        data = fh.read()
    found = md.superblock_pointers(data[:4096])
    assert found[0] == md.Pointer(md.HEADER, root)
    assert {p.address for p in _follow_all(data, root) if p.kind == md.HEADER} >= {root}
    assert md.superblock_pointers(b"\x00" * 512 + data[:4096]) == []  # after a user block: left to libhdf5


def test_structures_that_are_not_what_they_should_be_point_nowhere():
    garbage = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()

    def read(address: int, length: int) -> bytes:
        if address + length > len(garbage):
            raise md.NeedBytes(address, length)
        return garbage[address : address + length]

    for kind in (md.GROUP_BTREE, md.SYMBOL_NODE, md.LOCAL_HEAP, md.HEADER_CHUNK_V2):
        assert md.pointers(md.Pointer(kind, 100, 64), read) == []
    with pytest.raises(md.NeedBytes):
        md.pointers(md.Pointer(md.HEADER, 4090), read)


def _round_trips_of_translating(url: str, monkeypatch) -> int:
    seen: list[int] = []
    close = RemoteFile.close

    def record_and_close(self):
        seen.append(self.round_trips)
        close(self)

    with monkeypatch.context() as patch:
        patch.setattr(RemoteFile, "close", record_and_close)
        lindi_core.translate(url)
    return seen[0]


@pytest.mark.parametrize("layout", FILE_LAYOUTS)
def test_remote_translation_fetches_metadata_ahead_with_refs_equal_to_the_local_walk(
        tmp_path, make_h5, serve, monkeypatch, layout):
    path = make_h5(_tree, name="tree.h5", **FILE_LAYOUTS[layout])
    server = serve(tmp_path, latency=0.01)
    url = server.url_for("tree.h5")

    with_read_ahead = _round_trips_of_translating(url, monkeypatch)
    monkeypatch.setattr(remote_file, "MIN_ROUND_TRIP_FOR_READ_AHEAD", float("inf"))
    without_read_ahead = _round_trips_of_translating(url, monkeypatch)

    assert with_read_ahead * 3 <= without_read_ahead  # 40 groups: serially a round trip or more each
    monkeypatch.undo()
    remote = jsonio.to_json_dict(lindi_core.translate(url))
    assert remote["refs"] == jsonio.to_json_dict(lindi_core.translate(path, ref_url=url))["refs"]
