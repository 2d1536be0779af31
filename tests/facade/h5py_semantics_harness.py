"""Shared harness of the ``test_h5py_semantics_*`` modules, which check that the h5py-compatible
facade reads a translated file exactly as h5py reads the original.

h5py is the truth throughout: every expected value, type and exception type is computed by
running the same operation with h5py on the same HDF5 file; nothing here hard-codes what the
facade should return. Each test runs twice, once per way of opening the facade:

* ``from_hdf5_file``  -- ``LindiH5pyFile.from_hdf5_file(path)`` (translated in memory);
* ``from_lindi_file`` -- ``LindiH5pyFile.from_lindi_file(out)`` on the ``.lindi.json`` written by
  ``lindi_core.translate_to_file(path, out)``.

Exceptions: where h5py raises, the facade must raise an instance of the same exception type
(a subclass is accepted, since ``except <h5py's type>`` then behaves the same).

Sanity mode: with ``LINDI_FACADE_TESTS_WITH_H5PY=1`` the "facade" side is h5py itself (the
``.lindi.json`` is still written), which checks that the expectations are computed correctly;
tests of the facade's own classes are skipped in that mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import pytest

import lindi_core

SANITY_MODE = os.environ.get("LINDI_FACADE_TESTS_WITH_H5PY") == "1"
OPENERS = ["from_hdf5_file", "from_lindi_file"]


# --------------------------------------------------------------------------------------------
# Opening an HDF5 file both ways
# --------------------------------------------------------------------------------------------


def _facade_class():
    cls = getattr(lindi_core, "LindiH5pyFile", None)
    if cls is None:
        pytest.fail("lindi_core.LindiH5pyFile does not exist (yet)")
    return cls


def open_facade(path: str, opener: str, workdir: str):
    """Open ``path`` through the facade the way ``opener`` names."""
    if opener == "from_hdf5_file":
        if SANITY_MODE:
            return h5py.File(path, "r")
        return _facade_class().from_hdf5_file(path)
    out = os.path.join(workdir, os.path.basename(path) + ".lindi.json")
    lindi_core.translate_to_file(path, out, progress=False)
    if SANITY_MODE:
        return h5py.File(path, "r")
    return _facade_class().from_lindi_file(out)


@dataclass
class Pair:
    """The same HDF5 file opened by h5py (``h5``) and by the facade (``lf``)."""

    h5: h5py.File
    lf: Any
    opener: str

    def both(self, name: str):
        return self.h5[name], self.lf[name]

    def check(self, name: str | None, fn: Callable[[Any], Any]) -> None:
        """``fn(obj)`` gives the same value (or raises the same exception type) on both sides,
        ``obj`` being the object at ``name`` (the file itself when ``name`` is None)."""
        h5obj, lobj = (self.h5, self.lf) if name is None else self.both(name)
        assert_same_outcome(self, fn, h5obj, lobj)

    def check_with_args(self, fn: Callable[..., Any], h5args: tuple, largs: tuple) -> None:
        """``fn(*h5args)`` and ``fn(*largs)`` give the same value or exception type (for
        operations that take objects of the same side, e.g. a file and a reference)."""
        assert_same_outcome(self, lambda args: fn(*args), h5args, largs)

    def close(self) -> None:
        for f in (self.lf, self.h5):
            try:
                f.close()
            except Exception:
                pass


def _open_pair(path: str, opener: str, workdir: str) -> Pair:
    h5 = h5py.File(path, "r")
    try:
        lf = open_facade(path, opener, workdir)
    except BaseException:
        h5.close()
        raise
    return Pair(h5, lf, opener)


@pytest.fixture(params=OPENERS)
def open_pair(request, make_h5, tmp_path):
    """``open_pair(builder, name="data.h5", **file_kwargs)`` writes a file with h5py and
    returns a :class:`Pair` on it (function scope: for files specific to one test)."""
    pairs: list[Pair] = []

    def run(builder: Callable[[h5py.File], None], name: str = "data.h5", **file_kwargs) -> Pair:
        path = make_h5(builder, name, **file_kwargs)
        pair = _open_pair(path, request.param, str(tmp_path))
        pairs.append(pair)
        return pair

    yield run
    for pair in pairs:
        pair.close()


def module_pair(request, tmp_path_factory, builder, name: str):
    folder = tmp_path_factory.mktemp(name)
    path = str(folder / f"{name}.h5")
    with h5py.File(path, "w") as f:
        builder(f)
    return _open_pair(path, request.param, str(folder))


# --------------------------------------------------------------------------------------------
# Comparing values and outcomes
# --------------------------------------------------------------------------------------------

_RAISED = object()


def outcome(fn, obj):
    try:
        return fn(obj), None
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome to compare
        return _RAISED, exc


def assert_same_outcome(pair: Pair, fn: Callable[[Any], Any], h5obj, lobj) -> None:
    expected, expected_exc = outcome(fn, h5obj)
    got, got_exc = outcome(fn, lobj)
    if expected_exc is not None:
        assert got_exc is not None, (
            f"h5py raised {type(expected_exc).__name__}({expected_exc}) but the facade returned {got!r}")
        assert isinstance(got_exc, type(expected_exc)), (
            f"h5py raised {type(expected_exc).__name__}({expected_exc}); "
            f"the facade raised {type(got_exc).__name__}({got_exc})")
        return
    if got_exc is not None:
        raise AssertionError(
            f"h5py returned {expected!r} but the facade raised {type(got_exc).__name__}: {got_exc}"
        ) from got_exc
    assert_same_value(pair, got, expected)


def assert_same_value(pair: Pair, got, expected, where: str = "value") -> None:
    """``got`` (facade) equals ``expected`` (h5py) in type, dtype, shape and content.

    References are compared by what they resolve to in their own file; h5py objects by kind
    and name; everything else by exact Python type and value (NaN equals NaN)."""
    if isinstance(expected, h5py.Reference):
        assert_same_reference(pair, got, expected, where)
        return
    if isinstance(expected, h5py.Empty):
        assert isinstance(got, h5py.Empty), f"{where}: expected h5py.Empty, got {got!r}"
        assert got.dtype == expected.dtype, f"{where}: Empty dtype {got.dtype} != {expected.dtype}"
        return
    if isinstance(expected, h5py.HLObject):
        assert_same_object(got, expected, where)
        return
    if isinstance(expected, type):
        assert got is expected or (isinstance(got, type) and issubclass(got, expected)), (
            f"{where}: expected class {expected}, got {got!r}")
        return
    assert type(got) is type(expected), (
        f"{where}: type {type(got).__name__} != h5py's {type(expected).__name__} "
        f"(got {got!r}, expected {expected!r})")
    if isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype!r} != h5py's {expected.dtype!r}"
        assert got.shape == expected.shape, f"{where}: shape {got.shape} != h5py's {expected.shape}"
        _assert_same_array_content(pair, got, expected, where)
    elif isinstance(expected, np.void):
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype!r} != h5py's {expected.dtype!r}"
        for field in expected.dtype.names or ():
            assert_same_value(pair, got[field], expected[field], f"{where}[{field!r}]")
        if expected.dtype.names is None:
            assert bytes(got) == bytes(expected), f"{where}: {got!r} != {expected!r}"
    elif isinstance(expected, np.generic):
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype!r} != h5py's {expected.dtype!r}"
        np.testing.assert_array_equal(got, expected, err_msg=where)
    elif isinstance(expected, float):
        assert got == expected or (np.isnan(got) and np.isnan(expected)), f"{where}: {got!r} != {expected!r}"
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{where}: length {len(got)} != h5py's {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same_value(pair, g, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)} != h5py's {list(expected)}"
        for k in expected:
            assert_same_value(pair, got[k], expected[k], f"{where}[{k!r}]")
    else:
        assert got == expected, f"{where}: {got!r} != h5py's {expected!r}"


def _assert_same_array_content(pair: Pair, got: np.ndarray, expected: np.ndarray, where: str) -> None:
    if expected.dtype.names:
        for field in expected.dtype.names:
            assert_same_value(pair, got[field], expected[field], f"{where}[{field!r}]")
    elif expected.dtype.kind == "O":
        for index in np.ndindex(expected.shape):
            assert_same_value(pair, got[index], expected[index], f"{where}{list(index)}")
    elif expected.dtype.kind == "V":
        assert got.tobytes() == expected.tobytes(), f"{where}: opaque bytes differ"
    else:
        np.testing.assert_array_equal(got, expected, err_msg=where, strict=True)


def assert_same_reference(pair: Pair, got, expected: h5py.Reference, where: str) -> None:
    assert isinstance(got, h5py.Reference), f"{where}: expected an h5py.Reference, got {got!r}"
    is_region = isinstance(expected, h5py.RegionReference)
    assert isinstance(got, h5py.RegionReference) == is_region, (
        f"{where}: h5py gives a {'region' if is_region else 'object'} reference, the facade {type(got)}")
    assert bool(got) == bool(expected), f"{where}: truthiness {bool(got)} != h5py's {bool(expected)}"
    if not expected:
        return
    target_h5, target_lf = pair.h5[expected], pair.lf[got]
    assert target_lf.name == target_h5.name, f"{where}: refers to {target_lf.name}, h5py to {target_h5.name}"
    if is_region:
        assert_same_value(pair, target_lf[got], target_h5[expected], f"{where} (region selection)")


def assert_same_object(got, expected: h5py.HLObject, where: str) -> None:
    for kind in (h5py.Group, h5py.Dataset, h5py.Datatype):  # File-ness: see the root-group tests
        assert isinstance(got, kind) == isinstance(expected, kind), (
            f"{where}: isinstance(..., {kind.__name__}) differs: facade {type(got)}, h5py {type(expected)}")
    assert got.name == expected.name, f"{where}: name {got.name!r} != h5py's {expected.name!r}"


def slices(selection: tuple) -> tuple:
    return tuple((s.start, s.stop, s.step) if isinstance(s, slice) else s for s in selection)


# --------------------------------------------------------------------------------------------
# The dataset zoo (one file per module and opener)
# --------------------------------------------------------------------------------------------

COMPOUND = np.dtype([("a", "<i4"), ("b", "<f8"), ("c", "S3")])
COMPOUND_WITH_STRING = np.dtype([("name", h5py.string_dtype()), ("value", "<i2")])
COLOR = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 42}, basetype="i1")
UTF8_WORDS = ["alpha", "βeta", "", "δ✓", "epsilon"]


def build_zoo(f: h5py.File) -> None:
    f.create_dataset("int1d", data=np.arange(20, dtype="<i4") * 3 - 7)
    f.create_dataset("f2d", data=np.arange(30, dtype="<f8").reshape(6, 5) / 4,
                     chunks=(2, 3), maxshape=(None, 5), fillvalue=-1.5)
    f.create_dataset("i3d", data=np.arange(4 * 5 * 6, dtype="<i2").reshape(4, 5, 6), chunks=(2, 2, 4))
    f.create_dataset("large2d", data=np.arange(300 * 200, dtype="<f4").reshape(300, 200))
    f.create_dataset("be_i4", data=np.arange(12, dtype=">i4") - 5)
    f.create_dataset("be_f8", data=np.linspace(-1, 1, 9).astype(">f8"))
    f.create_dataset("f16", data=np.array([0.5, -1.25, np.inf, np.nan, 65504], dtype="<f2"))
    f.create_dataset("c8", data=np.array([1 + 2j, -3.5j, 0], dtype="<c8"))
    f.create_dataset("c16", data=np.array([[1 + 2j, 2], [np.nan, -1j]], dtype="<c16"))
    f.create_dataset("bool", data=np.array([True, False, True, True]))
    f.create_dataset("u8", data=np.array([0, 1, 2**63, 2**64 - 1], dtype="<u8"))
    f.create_dataset("i1", data=np.array([-128, 0, 127], dtype="i1"))
    f.create_dataset("gzip", data=np.arange(100, dtype="<i8"), chunks=(16,), compression="gzip",
                     compression_opts=4, shuffle=True, fletcher32=True)
    f.create_dataset("lzf", data=np.arange(50, dtype="<f4"), chunks=(10,), compression="lzf")
    f.create_dataset("scaleoffset", data=np.arange(40, dtype="<i4"), chunks=(8,), scaleoffset=0)
    f.create_dataset("partial", shape=(40,), dtype="<i4", chunks=(10,), fillvalue=99)
    f["partial"][10:20] = np.arange(10)
    f.create_dataset("unwritten", shape=(10,), dtype="<i4", fillvalue=7)
    f.create_dataset("resizable", data=np.arange(12, dtype="<i4").reshape(3, 4),
                     chunks=(2, 2), maxshape=(None, None))
    f.create_dataset("empty0", shape=(0,), dtype="<f4")
    f.create_dataset("empty03", shape=(0, 3), dtype="<i4", chunks=(4, 3), maxshape=(None, 3))
    f.create_dataset("null", data=h5py.Empty("<f4"))
    f.create_dataset("null_str", data=h5py.Empty(h5py.string_dtype()))
    f.create_dataset("scalar_i4", data=np.int32(-42))
    f.create_dataset("scalar_f8", data=np.float64(2.5))
    f.create_dataset("scalar_f4_nan", data=np.float32(np.nan))
    f.create_dataset("scalar_bool", data=np.bool_(True))
    f.create_dataset("scalar_c16", data=np.complex128(1.5 - 2j))
    f.create_dataset("scalar_be_u2", data=np.array(513, dtype=">u2"))
    f.create_dataset("scalar_vlen_str", data="scalar ✓", dtype=h5py.string_dtype())
    f.create_dataset("scalar_vlen_ascii", data=b"ascii", dtype=h5py.string_dtype("ascii"))
    f.create_dataset("scalar_fixed_S", data=np.bytes_(b"fix"))
    f.create_dataset("scalar_fixed_utf8", data="é✓".encode(), dtype=h5py.string_dtype("utf-8", 10))
    f.create_dataset("scalar_compound", data=np.array((3, 4.5, b"xyz"), dtype=COMPOUND))
    f.create_dataset("scalar_enum", data=np.array(42, dtype=COLOR), dtype=COLOR)
    f.create_dataset("vlen_str", data=UTF8_WORDS, dtype=h5py.string_dtype())
    f.create_dataset("vlen_str2d", data=np.array([["a", "bb"], ["ccc", "✓"]], dtype=object),
                     dtype=h5py.string_dtype())
    f.create_dataset("vlen_ascii", data=[b"one", b"two", b"three"], dtype=h5py.string_dtype("ascii"))
    f.create_dataset("vlen_str_chunked", data=[f"s{i}" for i in range(30)], dtype=h5py.string_dtype(),
                     chunks=(7,))
    f.create_dataset("fixed_S", data=np.array([b"ab", b"cdefg", b"", b"h"], dtype="S5"))
    f.create_dataset("fixed_utf8", data=[w.encode() for w in ["é", "ab", "✓✓"]],
                     dtype=h5py.string_dtype("utf-8", 8))
    f.create_dataset("enum", data=np.array([0, 1, 42, 1], dtype="i1"), dtype=COLOR)
    f.create_dataset("compound", data=np.array(
        [(1, 1.5, b"a"), (2, -2.5, b"bc"), (3, np.nan, b"def"), (4, 0.0, b"")], dtype=COMPOUND))
    f.create_dataset("compound_str", data=np.array(
        [("x", 1), ("yy", -2), ("zzz✓", 3)], dtype=COMPOUND_WITH_STRING))
    ragged = f.create_dataset("ragged", (3,), dtype=h5py.vlen_dtype("<i4"))
    ragged[0], ragged[1], ragged[2] = [1, 2, 3], [], [4]
    f.create_dataset("opaque", data=np.array([b"\x00\x01\x02", b"\xff\xfe\xfd"], dtype="V3"))

    g = f.create_group("g")
    g.create_dataset("nested", data=np.arange(5, dtype="<u2"))
    f["g/alias_of_int1d"] = f["int1d"]  # hard link

    refs = f.create_dataset("refs", (4,), dtype=h5py.ref_dtype)
    refs[0] = f["int1d"].ref
    refs[1] = f["g"].ref
    refs[3] = f["g/nested"].ref  # refs[2] stays a null reference
    f.create_dataset("scalar_ref", data=f["f2d"].ref, dtype=h5py.ref_dtype)
    regionrefs = f.create_dataset("regionrefs", (6,), dtype=h5py.regionref_dtype)
    regionrefs[0] = f["int1d"].regionref[2:9:3]
    regionrefs[1] = f["f2d"].regionref[1:3, 2:4]
    regionrefs[2] = f["int1d"].regionref[[1, 4, 9]]
    regionrefs[3] = f["int1d"].regionref[...]
    # regionrefs[4] stays a null region reference
    regionrefs[5] = f["f2d"].regionref[::2, 1:5:3]  # a strided hyperslab: h5py reads it as (3, 2)


@pytest.fixture(scope="module", params=OPENERS)
def zoo(request, tmp_path_factory):
    pair = module_pair(request, tmp_path_factory, build_zoo, "zoo")
    yield pair
    pair.close()


NUMERIC_1D = ["int1d", "be_i4", "be_f8", "f16", "c8", "bool", "u8", "i1", "gzip", "lzf",
              "scaleoffset", "partial", "unwritten"]
ALL_DATASETS = NUMERIC_1D + [
    "f2d", "i3d", "large2d", "c16", "resizable", "empty0", "empty03", "null", "null_str",
    "scalar_i4", "scalar_f8", "scalar_f4_nan", "scalar_bool", "scalar_c16", "scalar_be_u2",
    "scalar_vlen_str", "scalar_vlen_ascii", "scalar_fixed_S", "scalar_fixed_utf8",
    "scalar_compound", "scalar_enum", "vlen_str", "vlen_str2d", "vlen_ascii", "vlen_str_chunked",
    "fixed_S", "fixed_utf8", "enum", "compound", "compound_str", "ragged", "opaque", "g/nested",
    "g/alias_of_int1d", "refs", "scalar_ref", "regionrefs",
]
SCALARS = [n for n in ALL_DATASETS if n.startswith("scalar_")]
