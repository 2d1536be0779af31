"""Every road into a reference file reads chunks through the one read engine, and so reads the
same values: the facade (boxes the engine places itself, masks and index lists that zarr
indexes), ``zarr.open_array``, ``dask.array.from_zarr`` and the facade's ``to_dask``. Pinned
where the roads used to decide separately: the fill value of chunks never written, short edge
chunks (compressed, and virtual chunks of contiguous data that the store pads), chunk keys
separated by ``/``, an array that is one inline chunk. The truth is h5py reading the file.
"""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
import pytest
import zarr

import lindi_core
from lindi_core import ChunkOptions
from lindi_core.format import jsonio
from lindi_core.store.reference_store import ReferenceStore

NAMES = ["sparse_gzip", "nan_fill", "int_fill_shuffle", "contiguous", "one_inline_chunk", "big_endian_edges"]


@pytest.fixture(scope="module")
def h5_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("roads") / "roads.h5"
    rng = np.random.default_rng(14)
    with h5py.File(path, "w") as f:
        sparse = f.create_dataset("sparse_gzip", shape=(45, 37), dtype="<f4", chunks=(10, 8), fillvalue=-2.5,
                                  compression="gzip")
        sparse[12:31, 20:37] = rng.normal(size=(19, 17))  # edge chunks on axis 1, most chunks unwritten
        nan_fill = f.create_dataset("nan_fill", shape=(50,), dtype="<f8", chunks=(8,), fillvalue=np.nan)
        nan_fill[9:12] = 1.5
        ints = f.create_dataset("int_fill_shuffle", shape=(30, 7), dtype="<u2", chunks=(8, 4), fillvalue=7,
                                shuffle=True, compression="gzip")
        ints[:9, 4:] = rng.integers(0, 60_000, size=(9, 3))
        f.create_dataset("contiguous", data=rng.integers(-30_000, 30_000, size=(1003, 3)).astype("<i2"))
        f.create_dataset("one_inline_chunk", data=np.arange(15, dtype="<i4").reshape(3, 5), chunks=(4, 8),
                         maxshape=(8, 8))  # one chunk, larger than the array
        f.create_dataset("big_endian_edges", data=rng.integers(-9, 9, size=(23, 11)).astype(">i4"), chunks=(5, 4),
                         compression="gzip", shuffle=True)
    return path


def _reference_dict(h5_path, separator: str) -> dict:
    """The translated file as a reference dict, its chunk keys joined by ``separator``."""
    rfs = lindi_core.translate(str(h5_path), options=ChunkOptions(contiguous_chunk_target=2000), progress=False)
    d = jsonio.to_json_dict(rfs)
    if separator == ".":
        return d
    refs = {}
    arrays = {key.rsplit("/", 1)[0] for key in d["refs"] if key.endswith("/.zarray")}
    for key, value in d["refs"].items():
        parent, _, name = key.rpartition("/")
        if parent in arrays and not name.startswith("."):
            key = parent + "/" + name.replace(".", "/")
        elif name == ".zarray":
            value = dict(value, dimension_separator=separator)
        refs[key] = value
    return dict(d, refs=refs)


def _assert_same(got, expected, road: str) -> None:
    got = np.asarray(got)
    assert got.shape == expected.shape, road
    assert got.dtype == expected.dtype, road
    np.testing.assert_array_equal(got, expected, err_msg=road)


@pytest.mark.parametrize("separator", [".", "/"])
@pytest.mark.parametrize("name", NAMES)
def test_every_road_reads_what_h5py_reads(h5_path, name, separator):
    refs = _reference_dict(h5_path, separator)
    with h5py.File(h5_path) as truth_file:
        truth = truth_file[name]
        whole = truth[()]
        mask = np.zeros(truth.shape, bool)
        mask[::3] = True
        mask[-1] = True  # the edge
        box = (slice(1, None, 2),) + tuple(slice(n - 3, None) for n in truth.shape[1:])
        rows = [0, truth.shape[0] - 1]
        expected = {"box": truth[box], "mask": truth[mask], "rows": truth[rows], "fill": truth.fillvalue}

    with lindi_core.LindiH5pyFile.from_reference_file_system(refs) as f:
        ds = f[name]
        _assert_same(ds[()], whole, "facade, whole")
        _assert_same(ds[box], expected["box"], "facade, box")
        _assert_same(ds[mask], expected["mask"], "facade, mask")
        _assert_same(ds[rows], expected["rows"], "facade, index list")
        _assert_same(ds.to_dask(chunks=(7, 2)[: ds.ndim]).compute(), whole, "facade, to_dask")
        np.testing.assert_array_equal(ds.fillvalue, expected["fill"])

    store = ReferenceStore.from_dict(refs)
    try:
        array = zarr.open_array(store, path=name, mode="r", zarr_format=2)
        assert array.metadata.dimension_separator == separator
        _assert_same(array[...], whole, "zarr, whole")
        _assert_same(array[box], expected["box"], "zarr, box")
        _assert_same(array.vindex[mask], expected["mask"], "zarr, mask")
        dask_array = da.from_zarr(array, chunks=(6, 5)[: array.ndim])
        _assert_same(dask_array.compute(scheduler="threads"), whole, "dask.from_zarr")
        np.testing.assert_array_equal(array.fill_value, expected["fill"])
    finally:
        store.close()


def test_an_array_of_one_inline_chunk_with_slash_keys_is_decoded_without_the_store(h5_path, monkeypatch):
    """The engine builds the chunk key with the array's separator: the single inline chunk of a
    '/'-separated array is found and decoded on the spot, as for a '.'-separated one, with no
    read through the store (before, the shortcut looked for 'name/0.0' and missed)."""
    refs = _reference_dict(h5_path, "/")
    assert "one_inline_chunk/0/0" in refs["refs"]
    reads: list[str] = []
    chunk_bytes, get = ReferenceStore.chunk_bytes, ReferenceStore.get

    async def counted_chunk_bytes(self, key):
        reads.append(key)
        return await chunk_bytes(self, key)

    async def counted_get(self, key, *args, **kwargs):
        reads.append(key)
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(ReferenceStore, "chunk_bytes", counted_chunk_bytes)
    monkeypatch.setattr(ReferenceStore, "get", counted_get)
    with lindi_core.LindiH5pyFile.from_reference_file_system(refs) as f:
        values = f["one_inline_chunk"][1:, 2:4]
    np.testing.assert_array_equal(values, np.arange(15, dtype="<i4").reshape(3, 5)[1:, 2:4])
    assert reads == []


def test_a_masked_read_of_slash_keys_over_http_is_one_request(tmp_path, serve):
    """A selection zarr indexes fetches its chunks through the engine (all at once, merged),
    whatever the separator of the keys."""
    values = np.arange(60_000, dtype="<i4").reshape(300, 200)
    with h5py.File(tmp_path / "grid.h5", "w") as f:
        f.create_dataset("grid", data=values, chunks=(50, 40))  # 6 x 5 chunks of 8000 bytes
    server = serve(tmp_path)
    refs = _reference_dict(server.url_for("grid.h5"), "/")
    mask = np.zeros(values.shape, bool)
    mask[::7, ::3] = True
    with lindi_core.LindiH5pyFile.from_reference_file_system(refs) as f:
        server.stats.reset()
        np.testing.assert_array_equal(f["grid"][mask], values[mask])
        assert server.stats.requests == 1


def test_a_compression_bomb_in_slash_keys_is_refused_before_zarr_decodes_it():
    """The store finds the array of a '/'-separated chunk key (two levels below it here), so
    the bounds check of encoded chunks applies as for '.' keys: the bomb is refused by name
    before zarr's unbounded codecs see it; the facade's engine refuses it too."""
    import base64
    import zlib

    from lindi_core.errors import ChunkDecodeError

    good = zlib.compress(np.arange(16, dtype="<i4").tobytes())
    bomb = zlib.compress(bytes(64 << 20))
    refs = {".zgroup": {"zarr_format": 2},
            "x/.zarray": {"zarr_format": 2, "shape": [8, 8], "chunks": [4, 4], "dtype": "<i4", "fill_value": 0,
                          "order": "C", "compressor": {"id": "zlib", "level": 1}, "filters": None,
                          "dimension_separator": "/"}}
    for i in range(2):
        for j in range(2):
            refs[f"x/{i}/{j}"] = "base64:" + base64.b64encode(bomb if (i, j) == (1, 0) else good).decode()
    reference = {"version": 1, "refs": refs}
    store = ReferenceStore.from_dict(reference)
    try:
        array = zarr.open_array(store, path="x", mode="r", zarr_format=2)
        np.testing.assert_array_equal(array[:4], np.tile(np.arange(16, dtype="<i4").reshape(4, 4), 2))
        with pytest.raises(ChunkDecodeError, match=r"chunk 'x/1/0'.* past|chunk 'x/1/0'.*bytes"):
            array[...]
    finally:
        store.close()
    with lindi_core.LindiH5pyFile.from_reference_file_system(reference) as f:
        with pytest.raises(ChunkDecodeError, match="'x/1/0'"):
            f["x"][...]
