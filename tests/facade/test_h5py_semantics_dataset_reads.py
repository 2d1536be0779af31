"""read_direct, astype, asstr, fields and dataset properties through the facade match h5py
(see :mod:`tests.facade.h5py_semantics_harness`).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.facade.h5py_semantics_harness import (
    ALL_DATASETS,
    assert_same_value,
    outcome,
    slices,
)

# --- read_direct, astype, asstr, fields ----------------------------------------------------


def _read_direct(ds, shape, dtype, **kwargs):
    dest = np.full(shape, -9, dtype=dtype)
    ds.read_direct(dest, **kwargs)
    return dest


def test_read_direct_whole_dataset_matches_h5py(zoo):
    zoo.check("int1d", lambda d: _read_direct(d, (20,), "<i4"))
    zoo.check("f2d", lambda d: _read_direct(d, (6, 5), "<f8"))
    zoo.check("large2d", lambda d: _read_direct(d, (300, 200), "<f4"))


def test_read_direct_converts_to_destination_dtype_like_h5py(zoo):
    zoo.check("int1d", lambda d: _read_direct(d, (20,), "<f8"))
    zoo.check("be_i4", lambda d: _read_direct(d, (12,), "<i4"))


def test_read_direct_with_source_and_dest_selection_matches_h5py(zoo):
    zoo.check("int1d", lambda d: _read_direct(d, (10,), "<i4", source_sel=np.s_[2:8], dest_sel=np.s_[3:9]))
    zoo.check("int1d", lambda d: _read_direct(d, (10,), "<i4", source_sel=np.s_[5:15]))
    zoo.check("int1d", lambda d: _read_direct(d, (20,), "<i4", dest_sel=np.s_[:]))
    zoo.check("f2d", lambda d: _read_direct(d, (4, 4), "<f8", source_sel=np.s_[1:3, 2:5],
                                            dest_sel=np.s_[2:4, 0:3]))
    zoo.check("large2d", lambda d: _read_direct(d, (3, 7), "<f4", source_sel=np.s_[100:103, 50:57]))


def test_read_direct_with_mismatched_selection_raises_like_h5py(zoo):
    zoo.check("int1d", lambda d: _read_direct(d, (10,), "<i4", source_sel=np.s_[0:5], dest_sel=np.s_[0:4]))
    zoo.check("int1d", lambda d: _read_direct(d, (5,), "<i4"))
    zoo.check("int1d", lambda d: _read_direct(d, (20,), "<i4", source_sel=np.s_[5:15]))


def test_read_direct_into_non_contiguous_array_raises_like_h5py(zoo):
    zoo.check("int1d", lambda d: d.read_direct(np.zeros(40, dtype="<i4")[::2]))


@pytest.mark.parametrize("name", ["int1d", "f2d", "be_i4", "f16", "bool", "scalar_i4", "empty0", "gzip"])
def test_astype_reads_converted_values_like_h5py(zoo, name):
    zoo.check(name, lambda d: d.astype("f8")[...])
    if name != "f16":  # out-of-range float -> int conversion: see the next test
        zoo.check(name, lambda d: d.astype("<i2")[()])


def test_astype_out_of_range_float_to_int_conversion_matches_h5py(zoo):
    # libhdf5 converts NaN to 0 and clamps +-Inf and out-of-range values to the integer range
    zoo.check("f16", lambda d: d.astype("<i2")[...])
    zoo.check("f16", lambda d: d.astype("u1")[...])


def test_astype_with_selection_matches_h5py(zoo):
    zoo.check("int1d", lambda d: d.astype("f8")[2:9:3])
    zoo.check("f2d", lambda d: d.astype("f4")[1, 1:4])
    zoo.check("int1d", lambda d: np.asarray(d.astype("i8")))
    zoo.check("int1d", lambda d: len(d.astype("f8")))


@pytest.mark.parametrize("name", ["vlen_str", "vlen_str2d", "vlen_ascii", "fixed_S", "fixed_utf8",
                                  "scalar_vlen_str", "scalar_vlen_ascii", "scalar_fixed_S",
                                  "scalar_fixed_utf8", "vlen_str_chunked"])
def test_asstr_returns_str_like_h5py(zoo, name):
    zoo.check(name, lambda d: d.asstr()[()])
    zoo.check(name, lambda d: d.asstr()[...])
    if zoo.h5[name].shape:
        zoo.check(name, lambda d: d.asstr()[0])
        zoo.check(name, lambda d: d.asstr()[1:])


def test_asstr_with_encoding_and_errors_matches_h5py(zoo):
    zoo.check("vlen_str", lambda d: d.asstr("ascii")[...])  # non-ASCII words: UnicodeDecodeError
    zoo.check("vlen_str", lambda d: d.asstr("ascii", errors="replace")[...])
    zoo.check("fixed_utf8", lambda d: d.asstr("latin-1")[...])


def test_asstr_on_non_string_dataset_raises_like_h5py(zoo):
    zoo.check("int1d", lambda d: d.asstr()[...])


@pytest.mark.parametrize("name", ["compound", "scalar_compound", "compound_str"])
def test_fields_of_compound_dataset_match_h5py(zoo, name):
    first = zoo.h5[name].dtype.names[0]
    last = zoo.h5[name].dtype.names[-1]
    zoo.check(name, lambda d: d.fields([first])[...])
    zoo.check(name, lambda d: d.fields(first)[...])
    zoo.check(name, lambda d: d.fields([last, first])[()])
    zoo.check(name, lambda d: d.fields([first, last])[...])


def test_fields_with_selection_matches_h5py(zoo):
    zoo.check("compound", lambda d: d.fields(["a"])[1:3])
    zoo.check("compound", lambda d: d.fields("b")[-1])
    zoo.check("compound_str", lambda d: d.fields("name")[::2])


@pytest.mark.parametrize("index", [np.s_["a"], np.s_["b"], np.s_["c"], np.s_["a", "c"], np.s_[1:3, "b"],
                                   np.s_["c", 2], np.s_[[0, 3], "a"], np.s_["missing"]], ids=repr)
def test_field_name_index_on_compound_dataset_matches_h5py(zoo, index):
    zoo.check("compound", lambda d: d[index])


def test_field_name_index_on_scalar_compound_and_string_compound_matches_h5py(zoo):
    zoo.check("scalar_compound", lambda d: d["b"])
    zoo.check("compound_str", lambda d: d["name"])
    zoo.check("compound_str", lambda d: d["value"])
    zoo.check("int1d", lambda d: d["a"])  # field name on a non-compound dataset


@pytest.mark.parametrize("name", ALL_DATASETS)
def test_len_matches_h5py_and_raises_typeerror_for_scalars(zoo, name):
    zoo.check(name, len)


@pytest.mark.parametrize("name", ["int1d", "f2d", "i3d", "vlen_str", "fixed_S", "compound", "empty0",
                                  "empty03", "refs", "scalar_i4", "null"])
def test_iterating_over_dataset_yields_rows_like_h5py(zoo, name):
    zoo.check(name, lambda d: [row for row in d])


@pytest.mark.parametrize("name", ["f2d", "i3d", "gzip", "lzf", "partial", "resizable", "empty03",
                                  "vlen_str_chunked", "int1d", "large2d", "scalar_i4", "null"])
def test_iter_chunks_yields_same_selections_as_h5py(zoo, name):
    zoo.check(name, lambda d: sorted(slices(s) for s in d.iter_chunks()))


@pytest.mark.parametrize("name,sel", [("f2d", np.s_[1:5, 2:4]), ("gzip", np.s_[10:50]),
                                      ("i3d", np.s_[1:3, :, 3:6])], ids=repr)
def test_iter_chunks_with_selection_yields_same_selections_as_h5py(zoo, name, sel):
    zoo.check(name, lambda d: sorted(slices(s) for s in d.iter_chunks(sel)))


# --- properties ----------------------------------------------------------------------------

DATASET_PROPERTIES = ["shape", "dtype", "size", "ndim", "chunks", "maxshape", "fillvalue", "compression",
                      "compression_opts", "shuffle", "fletcher32", "scaleoffset", "nbytes", "name",
                      "is_virtual", "external"]


@pytest.mark.parametrize("prop", DATASET_PROPERTIES)
def test_dataset_property_matches_h5py(zoo, prop):
    mismatches = []
    for name in ALL_DATASETS:
        h5ds, lds = zoo.both(name)
        expected, expected_exc = outcome(lambda d: getattr(d, prop), h5ds)
        got, got_exc = outcome(lambda d: getattr(d, prop), lds)
        try:
            if expected_exc is not None:
                assert isinstance(got_exc, type(expected_exc)), f"h5py raised {expected_exc!r}, facade {got!r}"
            else:
                assert got_exc is None, f"facade raised {got_exc!r}"
                assert_same_value(zoo, got, expected, f"{name}.{prop}")
        except AssertionError as err:
            mismatches.append(f"{name}: {err}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("check", [h5py.check_string_dtype, h5py.check_ref_dtype, h5py.check_vlen_dtype,
                                   h5py.check_enum_dtype, h5py.check_opaque_dtype],
                         ids=lambda c: c.__name__)
def test_h5py_dtype_checks_give_same_answer_on_dataset_dtype(zoo, check):
    mismatches = []
    for name in ALL_DATASETS:
        h5ds, lds = zoo.both(name)
        expected, got = check(h5ds.dtype), check(lds.dtype)
        if got != expected:
            mismatches.append(f"{name}: {check.__name__} gives {got!r}, h5py {expected!r}")
    assert not mismatches, "\n".join(mismatches)


def test_h5py_dtype_checks_give_same_answer_on_compound_field_dtypes(zoo):
    h5ds, lds = zoo.both("compound_str")
    for field in h5ds.dtype.names:
        expected, got = h5ds.dtype.fields[field][0], lds.dtype.fields[field][0]
        assert got == expected
        assert h5py.check_string_dtype(got) == h5py.check_string_dtype(expected)


@pytest.mark.parametrize("name", ["int1d", "g/nested", "g/alias_of_int1d", "scalar_i4", "null"])
def test_dataset_name_and_parent_name_match_h5py(zoo, name):
    zoo.check(name, lambda d: d.name)
    zoo.check(name, lambda d: d.parent.name)
    zoo.check(name, lambda d: d.parent.parent.name)


def test_dataset_file_is_the_facade_file(zoo):
    h5ds, lds = zoo.both("g/nested")
    assert (h5ds.file == zoo.h5) is True
    assert lds.file == zoo.lf
    assert isinstance(lds.file, h5py.File)
    assert type(lds.file) is type(zoo.lf)
    assert lds.file.filename == zoo.lf.filename


def test_dataset_id_is_hashable_and_equal_through_hard_links(zoo):
    h5a, la = zoo.both("int1d")
    h5b, lb = zoo.both("g/alias_of_int1d")
    assert (h5a.id == h5b.id) is True
    assert la.id == lb.id
    assert hash(la.id) == hash(lb.id)
    assert len({la.id, lb.id}) == 1
    assert la == lb
    assert hash(la) == hash(lb)


def test_dataset_ids_of_distinct_objects_differ(zoo):
    h5a, la = zoo.both("int1d")
    h5b, lb = zoo.both("f2d")
    assert (h5a.id == h5b.id) is False
    assert la.id != lb.id
    assert la != lb
    assert len({la.id, lb.id}) == 2


def test_same_dataset_opened_twice_is_equal(zoo):
    assert zoo.lf["f2d"] == zoo.lf["/f2d"]
    assert zoo.lf["f2d"].id == zoo.lf["f2d"].id
    assert hash(zoo.lf["f2d"]) == hash(zoo.lf["/f2d"])




def test_arrays_read_carry_h5pys_type_marks(open_pair):
    def build(f):
        f["v"] = np.array(["a", "b"], dtype=h5py.string_dtype())
        f.create_dataset("e", data=np.array([0, 1], "i1"), dtype=h5py.enum_dtype({"A": 0, "B": 1}, "i1"))
        f.create_dataset("r", data=[f["v"].ref])
        f.create_dataset("rg", data=np.array([np.arange(3), np.arange(2)], dtype=object), dtype=h5py.vlen_dtype("i4"))

    pair = open_pair(build)
    for name in ("v", "e", "r", "rg"):
        pair.check(name, lambda d: d[()].dtype.metadata)
        pair.check(name, lambda d: d[:1].dtype.metadata)
    pair.check("v", lambda d: h5py.check_string_dtype(d[()].dtype))
    pair.check("e", lambda d: h5py.check_enum_dtype(d[()].dtype))


def test_astype_to_integers_converts_as_libhdf5(open_pair):
    pair = open_pair(lambda f: f.create_dataset("f", data=[np.nan, np.inf, -np.inf, 1e20, -1e20, 3.7, -3.7]))
    for target in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"):
        pair.check("f", lambda d, target=target: d.astype(target)[()].tolist())


def test_ranges_and_tuples_index_as_lists(open_pair):
    pair = open_pair(lambda f: f.create_dataset("d", data=np.arange(30).reshape(10, 3)))
    pair.check("d", lambda d: d[range(3)].tolist())
    pair.check("d", lambda d: d[range(2, 8, 2), 1].tolist())
    pair.check("d", lambda d: d[(1, 2), 0].tolist())


def test_ids_are_invalid_once_the_file_is_closed(open_pair):
    pair = open_pair(lambda f: f.create_dataset("d", data=np.arange(3)).attrs.create("a", 1))
    ids = [f["d"].id for f in (pair.h5, pair.lf)]
    datasets = [f["d"] for f in (pair.h5, pair.lf)]
    assert [bool(i.valid) for i in ids] == [True, True]
    for f in (pair.h5, pair.lf):
        f.close()
    assert [bool(i.valid) for i in ids] == [False, False]
    for dataset in datasets:
        with pytest.raises(KeyError):
            dataset.attrs["a"]


ARRAY_MEMBERS = np.dtype([("arr", "<i4", (3,)), ("x", "<f4")])
NESTED_ARRAY_MEMBERS = np.dtype([("p", [("q", "<i2", (2,))]), ("m", "<f8", (2, 2))])


def test_compound_members_of_fixed_shape_read_as_in_h5py(open_pair):
    def build(f):
        f["c"] = np.array([([1, 2, 3], 1.0), ([4, 5, 6], 2.5)], ARRAY_MEMBERS)
        f["n"] = np.zeros(2, NESTED_ARRAY_MEMBERS)
        f["n"][0] = (([7, 8],), [[1, 2], [3, 4]])
        f.attrs["c"] = f["c"][()]
        f.attrs["one"] = f["c"][0]
        f.attrs["n"] = f["n"][()]
        f.attrs["n1"] = f["n"][0]
        f.attrs["records"] = np.array([((1, 2),)], dtype=[("p", [("a", "i4"), ("b", "i4")])])

    pair = open_pair(build)
    for name in ("c", "n"):
        pair.check(name, lambda d: d.dtype)
        pair.check(name, lambda d: d[()].tolist())
        pair.check(name, lambda d: d[1].tolist())
    for name in ("c", "one", "n", "n1", "records"):
        pair.check(None, lambda f, name=name: (f.attrs[name].dtype, np.shape(f.attrs[name]), f.attrs[name].tolist()))



def test_ragged_compound_members_read_as_arrays(open_pair):
    def build(f):
        ragged = [("r", h5py.vlen_dtype("f8")), ("n", "i4")]
        f.create_dataset("c", data=np.array([(np.array([np.nan, 1.0]), 1), (np.arange(3.0), 2)], dtype=ragged))

    pair = open_pair(build)
    for row in (0, 1):
        pair.check("c", lambda d, row=row: (type(d[row]["r"]).__name__, d[row]["r"].dtype, d[row]["r"].tolist()))
