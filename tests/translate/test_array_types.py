"""Datasets of HDF5 array types (h5py's subarray dtypes, PyTables' shaped atoms and columns):
translated, read through the facade and through zarr, and written, as h5py sees the same file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tables

import lindi_core
from lindi_core import ChunkOptions
from lindi_core.errors import UnreadableObjectError
from lindi_core.format import annotations as ann
from tests.h5compare import assert_new_file_matches_h5py

rng = np.random.default_rng(7)

# Shapes chosen so that chunked layouts have partial edge chunks on every axis.
DATASET_SHAPES = {0: (), 1: (11,), 2: (5, 7), 3: (3, 4, 5)}
CHUNKS = {1: (4,), 2: (2, 3), 3: (2, 3, 2)}
SUBSHAPES = [(3,), (2, 3)]
LAYOUTS = ["contiguous", "contiguous_referenced", "compact", "chunked", "chunked_gzip_shuffle", "chunked_lzf"]


def _values(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Values of ``shape + dtype.shape`` in ``dtype.base``."""
    full = shape + dtype.shape
    base = dtype.base
    if base.kind == "S":
        return np.array([b"v%d" % i for i in range(int(np.prod(full)))], dtype=base).reshape(full)
    if base.kind == "b":
        return rng.integers(0, 2, full).astype(bool)
    if base.names is not None:
        out = np.zeros(full, dtype=base)
        for name in base.names:
            out[name] = rng.integers(-100, 100, full)
        return out
    return (rng.normal(0, 1000, full)).astype(base)


def _write(f: h5py.File, name: str, shape: tuple[int, ...], dtype: np.dtype, layout: str) -> None:
    data = _values(shape, dtype)
    if layout == "compact":
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple(shape) if shape else h5py.h5s.create(h5py.h5s.SCALAR)
        h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(dtype), space, dcpl=dcpl)
        ds = f[name]
    else:
        kwargs = {}
        if layout.startswith("chunked"):
            kwargs["chunks"] = CHUNKS[len(shape)]
        if layout == "chunked_gzip_shuffle":
            kwargs.update(compression="gzip", shuffle=True)
        if layout == "chunked_lzf":  # decoded through libhdf5's own pipeline
            kwargs.update(compression="lzf")
        ds = f.create_dataset(name, shape=shape, dtype=dtype, **kwargs)
    ds[()] = data


def _selections(shape: tuple[int, ...]) -> list:
    if not shape:
        return [(), Ellipsis]
    picks: list = [Ellipsis, 0, -1, slice(1, None, 2), [0, shape[0] - 1], (Ellipsis, 1)]
    if len(shape) > 1:
        picks += [(0, 1), (slice(None), [0, 2]), rng.random(shape) > 0.5, (1, slice(None, None, 2))]
    return picks


def assert_reads_as_h5py(ours, theirs) -> None:
    """A facade dataset of an array type against h5py's view of the original."""
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    assert ours.chunks == theirs.chunks
    assert ours.maxshape == theirs.maxshape
    assert (ours.size, ours.nbytes, ours.ndim) == (theirs.size, theirs.nbytes, theirs.ndim)
    fill_ours, fill_theirs = ours.fillvalue, theirs.fillvalue
    assert fill_ours.dtype == fill_theirs.dtype and fill_ours.tobytes() == fill_theirs.tobytes()
    for selection in _selections(theirs.shape):
        got, expected = ours[selection], theirs[selection]
        assert got.dtype == expected.dtype and got.shape == expected.shape, selection
        assert got.tobytes() == expected.tobytes(), selection
    if theirs.shape:
        assert len(ours) == len(theirs)
        for got, expected in zip(ours, theirs):
            assert got.shape == expected.shape and got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("subshape", SUBSHAPES, ids=str)
@pytest.mark.parametrize("rank", sorted(DATASET_SHAPES))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_and_rank_reads_as_h5py(make_h5, translated, layout, rank, subshape):
    if rank == 0 and layout.startswith("chunked"):
        pytest.skip("scalar datasets cannot be chunked")
    shape = DATASET_SHAPES[rank]
    dtype = np.dtype(("<f8", subshape))
    path = make_h5(lambda f: _write(f, "x", shape, dtype, layout))
    # A tiny inline threshold makes contiguous data referenced in place, in several virtual chunks.
    options = ChunkOptions(inline_threshold=0, contiguous_chunk_target=100) if layout == "contiguous_referenced" \
        else ChunkOptions()
    root, rfs = translated(path, options=options)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        assert_reads_as_h5py(f["x"], h["x"])
        # zarr alone sees a plain array of the element type, the subarray's axes last
        expected = h["x"][()]
        got = root["x"][...]
        if rank == 0:
            got = got[0]
        assert got.shape == expected.shape and np.array_equal(got, expected)
    zarray = rfs.metadata["x/.zarray"]
    assert zarray["dtype"] == "<f8"
    assert zarray["chunks"][-len(subshape):] == list(subshape)


@pytest.mark.parametrize("base", [">i4", "<u2", "|b1", "|S3", [("a", "<i2"), ("b", ">f4")]], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "chunked_gzip_shuffle"])
def test_element_types_read_as_h5py(make_h5, translated, base, layout):
    dtype = np.dtype((np.dtype(base), (2, 2)))
    path = make_h5(lambda f: _write(f, "x", (5, 7), dtype, layout))
    root, rfs = translated(path, options=ChunkOptions(inline_threshold=0))
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        assert_reads_as_h5py(f["x"], h["x"])
        got = root["x"][...]  # zarr alone: plain values of the element type
        assert got.shape == (5, 7, 2, 2) and got.tobytes() == h["x"][()].astype(got.dtype).tobytes()


def test_enum_elements_keep_their_mapping(make_h5, translated):
    enum = h5py.enum_dtype({"OFF": 0, "ON": 1, "BROKEN": 7}, basetype="i1")
    dtype = np.dtype((enum, (3,)))

    def build(f):
        f.create_dataset("x", shape=(6,), dtype=dtype, chunks=(4,))[()] = rng.choice([0, 1, 7], (6, 3)).astype("i1")

    path = make_h5(build)
    _, rfs = translated(path)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        assert_reads_as_h5py(f["x"], h["x"])
        assert h5py.check_enum_dtype(f["x"][...].dtype) == h5py.check_enum_dtype(h["x"][...].dtype)
        assert h5py.check_enum_dtype(f["x"][...].dtype) == {"OFF": 0, "ON": 1, "BROKEN": 7}


def _pytables_filled(path: str, fill: int, write: bool = True) -> None:
    """A chunked array of (2,) int32 elements with fill value ``fill``, one element written
    (h5py writes no fill value of an array type; PyTables does, from the atom's default)."""
    with tables.open_file(path, "w") as f:
        array = f.create_carray("/", "filled", atom=tables.Int32Atom(shape=(2,), dflt=fill), shape=(10,),
                                chunkshape=(4,))
        if write:
            array[2] = [5, 6]


def test_unwritten_and_filled_elements_read_their_fill_value(make_h5, translated, tmp_path):
    dtype = np.dtype(("<i4", (2,)))

    def build(f):
        f.create_dataset("never_written", shape=(9,), dtype=dtype)
        f.create_dataset("sparse", shape=(20,), dtype=dtype, chunks=(4,))[5] = [1, 2]

    path = make_h5(build)
    _, rfs = translated(path)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        for name in h:
            assert_reads_as_h5py(f[name], h[name])
    filled = str(tmp_path / "filled.h5")
    _pytables_filled(filled, -3)
    _, rfs = translated(filled)
    with h5py.File(filled) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        expected = h["filled"][...]
        assert expected[0].tolist() == [-3, -3]
        # h5py cannot give this fill value (libhdf5 will not convert it to the base type)
        with pytest.raises(RuntimeError):
            h["filled"].fillvalue  # noqa: B018
        assert f["filled"][...].tobytes() == expected.tobytes() and f["filled"][...].shape == expected.shape
        assert f["filled"].fillvalue.tolist() == [-3, -3]


def _assert_only_this_dataset_refuses_reads(path: str, name: str, reason: str) -> None:
    """The file translates; the dataset ``name`` has h5py's shape and dtype, and reading it raises
    an error naming it and ``reason``."""
    with lindi_core.LindiH5pyFile.from_reference_file_system(lindi_core.translate(path)) as f, \
            h5py.File(path, "r") as h:
        assert f[name].shape == h[name].shape and f[name].dtype == h[name].dtype
        with pytest.raises(UnreadableObjectError) as info:
            f[name][...]
    assert f"/{name}" in str(info.value) and reason in str(info.value)


def test_fill_value_differing_within_the_element_refuses_reads_of_that_dataset_alone(tmp_path):
    path = str(tmp_path / "odd_fill.h5")
    _pytables_filled(path, -3, write=False)
    raw = open(path, "rb").read()
    uniform = np.array([-3, -3], "<i4").tobytes()
    assert raw.count(uniform) >= 1  # only fill value messages hold it, in headers without checksums
    with open(path, "wb") as out:
        out.write(raw.replace(uniform, np.array([1, 2], "<i4").tobytes()))
    _assert_only_this_dataset_refuses_reads(path, "filled", "[1, 2]")


def test_unsupported_element_type_refuses_reads_of_that_dataset_alone(make_h5):
    # (arrays of variable-length strings read now: tests/translate/test_array_of_vlen.py)
    member = np.dtype([("name", h5py.string_dtype()), ("n", "<i4")])

    def build(f):
        f.create_dataset("strings", shape=(2,), dtype=np.dtype((member, (2,))))[0] = [("a", 1), ("bc", 2)]

    _assert_only_this_dataset_refuses_reads(make_h5(build), "strings", "array type")


class _Row(tables.IsDescription):
    position = tables.Float64Col(shape=(3,), pos=0)
    grid = tables.Int32Col(shape=(2, 2), pos=1)
    label = tables.StringCol(6, pos=2)
    count = tables.Int64Col(pos=3)


def test_pytables_table_columns_and_shaped_atoms_read_as_h5py(tmp_path, translated):
    path = str(tmp_path / "pytables.h5")
    with tables.open_file(path, "w") as f:
        table = f.create_table("/", "table", _Row)
        row = table.row
        for i in range(30):
            row["position"] = [i, i + 0.25, -i]
            row["grid"] = [[i, 1], [2, -i]]
            row["label"] = b"r%d" % i
            row["count"] = i * i
            row.append()
        table.flush()
        matrices = f.create_carray("/", "matrices", tables.Float64Atom(shape=(2, 2)), shape=(7,),
                                   filters=tables.Filters(complevel=5, complib="zlib", shuffle=True))
        matrices[...] = rng.normal(size=(7, 2, 2))
        growing = f.create_earray("/", "growing", tables.Int16Atom(shape=(3,)), shape=(0,))
        growing.append(np.arange(30, dtype="i2").reshape(10, 3))
        packed = f.create_carray("/", "blosc", tables.Float32Atom(shape=(3,)), shape=(50,),
                                 filters=tables.Filters(complevel=5, complib="blosc"))
        packed[...] = rng.normal(size=(50, 3)).astype("f4")
    root, rfs = translated(path)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        assert h["matrices"].dtype == np.dtype(("<f8", (2, 2)))  # what the test is about
        for name in ("matrices", "growing", "blosc"):
            assert_reads_as_h5py(f[name], h[name])
            assert np.array_equal(root[name][...], h[name][()])
        table, expected = f["table"], h["table"]
        assert table.dtype == expected.dtype and table.shape == expected.shape
        assert table[...].tobytes() == expected[...].tobytes()
        assert table[3:9]["grid"].tobytes() == expected[3:9]["grid"].tobytes()
        assert np.array_equal(table["position"], expected["position"])


DTYPE = np.dtype(("<f8", (3,)))


def _edit(f) -> None:
    d = f.create_dataset("d", shape=(4,), dtype=DTYPE, chunks=(2,), maxshape=(None,), compression="gzip", shuffle=True)
    d[0] = [1, 2, 3]
    d[1:3] = np.ones((2, 3))
    d[[1, 3]] = np.full((2, 3), 7.0)
    d.resize((7,))
    d[5] = [5, 5, 5]
    d[4] = [4, 4, 4]
    d.resize((6,))
    d.resize((5,))  # mid-chunk: element 5 is cut off, and reads as the fill value once grown again
    d.resize((6,))
    m = f.create_dataset("m", shape=(2, 3), dtype=np.dtype(("<i2", (2, 2))))
    m[np.array([[True, False, True], [False, True, False]])] = np.arange(12).reshape(3, 2, 2)
    m[1, 2] = [[9, 8], [7, 6]]
    m[0] = np.full((3, 2, 2), 300.7)
    s = f.create_dataset("s", shape=(), dtype=DTYPE)
    s[()] = [4, 5, 6]
    f.create_dataset("strings", shape=(3,), dtype=np.dtype(("S4", (2,))))[...] = [[b"ab", b"cd"]] * 3
    f.create_dataset("grows", shape=(1, 2), dtype=DTYPE, maxshape=(None, 2))


def _describe(f) -> dict:
    out = {}
    for name in f:
        d = f[name]
        values = d[...]
        out[name] = (d.shape, d.dtype, d.chunks, d.maxshape, values.shape, str(values.dtype), values.tolist(),
                     d.fillvalue.tolist(), d.size, d.nbytes)
    return out


def test_writing_through_the_facade_matches_h5py(tmp_path):
    assert_new_file_matches_h5py(tmp_path, "array_types", _edit, _describe)
    # and the reference file it wrote keeps the element's axes last, annotated
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "array_types.lindi.json") as f:
        assert f["d"].zarr_array.shape == (6, 3)
        assert f["d"]._zattrs()[ann.HDF5_DTYPE] == {"array": "<f8", "shape": [3]}


@pytest.mark.parametrize("write", [
    lambda d: d.__setitem__(0, 5.0),
    lambda d: d.__setitem__(Ellipsis, [1.0, 2.0, 3.0]),
    lambda d: d.__setitem__(slice(0, 2), np.ones((2, 4))),
    lambda d: d.__setitem__(slice(0, 2), np.ones((3, 3))),
], ids=["scalar", "one element to many", "wrong element shape", "wrong count"])
def test_bad_writes_fail_as_in_h5py(tmp_path, write):
    def outcome(f):
        d = f.create_dataset("d", shape=(4,), dtype=DTYPE)
        try:
            write(d)
        except Exception as exc:  # noqa: BLE001 - the exception type is what is compared
            return type(exc)
        return d[...].tolist()

    with h5py.File(tmp_path / "bad.h5", "w") as h:
        expected = outcome(h)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "bad.lindi.json", mode="w") as f:
        assert outcome(f) == expected


@pytest.mark.parametrize("kwargs", [
    {"data": np.zeros((4, 3))},
    {"shape": (4,), "data": np.zeros((4, 3))},
    {"shape": (4,), "fillvalue": 1.0},
], ids=["data", "shape and data", "fillvalue"])
def test_creation_refused_as_in_h5py(tmp_path, kwargs):
    with h5py.File(tmp_path / "bad.h5", "w") as h, pytest.raises(Exception) as expected:
        h.create_dataset("d", dtype=DTYPE, **kwargs)
    with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "bad.lindi.json", mode="w") as f:
        with pytest.raises(expected.type):
            f.create_dataset("d", dtype=DTYPE, **kwargs)
        assert "d" not in f


def test_copying_from_an_hdf5_file_keeps_array_types(tmp_path):
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as h:
        _edit(h)
    with h5py.File(source) as h:
        expected = _describe(h)
        with lindi_core.LindiH5pyFile.from_lindi_file(tmp_path / "copy.lindi.json", mode="w") as f:
            for name in h:
                f.copy(h[name], name)
            assert _describe(f) == expected


def test_array_type_whose_zarr_shape_lacks_the_element_axes_is_a_bad_reference_file(make_h5):
    path = make_h5(lambda f: _write(f, "x", (4,), np.dtype(("<f8", (3,))), "chunked"))
    rfs = lindi_core.translate(path)
    zattrs = rfs.metadata.get("x/.zhdf5") or rfs.metadata["x/.zattrs"]
    zattrs[ann.HDF5_DTYPE] = {"array": "<f8", "shape": [4]}  # the Zarr array ends with 3, not 4
    with lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        with pytest.raises(lindi_core.errors.ReferenceFormatError, match="/x"):
            f["x"][...]


MEMBERS = np.dtype([("position", ">f4", (3,)), ("flag", "|b1"), ("grid", "<i2", (2, 2)), ("label", "|S3"), ("n", ">i8")])


def _table_edit(table) -> None:
    table[3] = table[7]
    table[0:5, "n"] = np.arange(5) * 100
    table[8, "position"] = [9, 9, 9]
    records = table[10:12]
    records["grid"] = 4
    table[10:12] = records


@pytest.mark.parametrize("chunks", [None, (64,)], ids=["contiguous", "chunked"])
def test_large_compounds_with_array_members_are_referenced_in_place(make_h5, translated, tmp_path, chunks):
    records = np.zeros(500, dtype=MEMBERS)
    for name in MEMBERS.names:
        records[name] = _values((500,), MEMBERS.fields[name][0]).reshape(records[name].shape)
    path = make_h5(lambda f: f.create_dataset("table", data=records, chunks=chunks,
                                              compression="gzip" if chunks else None, shuffle=bool(chunks)))
    # rows_limit 0: not small enough for JSON rows, as a real table is not
    root, rfs = translated(path, options=ChunkOptions(compound_rows_limit=0, inline_threshold=0))
    assert rfs.metadata["table/.zarray"]["dtype"] == [["position", "|V12"], ["flag", "|b1"], ["grid", "|V8"],
                                                      ["label", "|S3"], ["n", ">i8"]]
    assert rfs.tables.get("table") is not None  # its chunks are references into the file
    editable = tmp_path / "table.lindi.json"
    lindi_core.translate_to_file(path, editable, options=ChunkOptions(compound_rows_limit=0, inline_threshold=0))
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_lindi_file(editable, mode="r+") as f:
        ours, theirs = f["table"], h["table"]
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert ours.fillvalue.tobytes() == theirs.fillvalue.tobytes()
        for selection in [Ellipsis, 5, slice(3, 400, 7), [1, 5, 499], (slice(10, 20), "grid"), "position"]:
            got, expected = ours[selection], theirs[selection]
            assert got.dtype == expected.dtype and got.shape == expected.shape and got.tobytes() == expected.tobytes()
        # zarr alone reads the same bytes, array members as opaque items
        assert root["table"][...].tobytes() == theirs[...].tobytes()
        _table_edit(ours)
        edited = ours[...]
    with h5py.File(path, "a") as h:
        _table_edit(h["table"])
        assert edited.tobytes() == h["table"][...].tobytes()


def _array_type_attributes(f) -> None:
    for name, dtype, shape, value in [
            ("rows", np.dtype(("<f8", (3,))), (2,), np.arange(6.0).reshape(2, 3)),
            ("scalar", np.dtype((">i2", (2, 2))), None, np.arange(4, dtype=">i2").reshape(2, 2)),
            ("strings", np.dtype(("S3", (2,))), (1,), np.array([[b"ab", b"c"]], "S3"))]:
        space = h5py.h5s.create_simple(shape) if shape else h5py.h5s.create(h5py.h5s.SCALAR)
        attr = h5py.h5a.create(f.id, name.encode(), h5py.h5t.py_create(dtype), space)
        attr.write(value, mtype=h5py.h5t.py_create(dtype))


def test_attributes_of_array_types_read_as_h5py(make_h5, translated):
    path = make_h5(_array_type_attributes)
    _, rfs = translated(path)
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        assert sorted(f.attrs) == sorted(h.attrs) == ["rows", "scalar", "strings"]
        for name in h.attrs:
            got, expected = f.attrs[name], h.attrs[name]
            assert got.dtype == expected.dtype and got.shape == expected.shape and got.tobytes() == expected.tobytes()


def test_a_file_at_a_url_translates_and_reads_as_h5py(tmp_path, serve):
    """Over HTTP: the PyTables fill value comes from the header through the remote file, and
    chunks are fetched and decoded by the remote read path."""
    path = str(tmp_path / "remote.h5")
    _pytables_filled(path, -3)
    with h5py.File(path, "a") as f:
        _write(f, "x", (5, 7), np.dtype(("<f8", (2, 3))), "chunked_gzip_shuffle")
        _write(f, "y", (40,), np.dtype((">i4", (3,))), "contiguous")
    server = serve()
    rfs = lindi_core.translate(server.url_for("remote.h5"), options=ChunkOptions(inline_threshold=0))
    with h5py.File(path) as h, lindi_core.LindiH5pyFile.from_reference_file_system(rfs) as f:
        for name in ("x", "y"):
            assert_reads_as_h5py(f[name], h[name])
        assert f["filled"][...].tobytes() == h["filled"][...].tobytes()
        assert f["filled"].fillvalue.tolist() == [-3, -3]
