"""Datasets of an HDF5 array type whose element is a variable-length string, a reference or a
ragged sequence: h5py reads them (each dataset element an array of such values), and so must
the translation (spec §4: encoded inline, the element's axes last); they were recorded
unreadable. Their element records are checked before libhdf5 reads them, as for other
variable-length datasets."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import lindi_core
from tests.h5walk import TranslatedFile
from tests.translate.test_vlen_bounds import RECORD, _assert_refused, _translate_in_subprocess


def _array_of_vlen(f: h5py.File) -> None:
    target = f.create_dataset("target", data=np.arange(10))
    s = f.create_dataset("strings", (3,), dtype=np.dtype((h5py.string_dtype(), (2,))))
    s[0] = ["a", "bb"]
    s[1] = ["\xe9t\xe9", ""]
    b = f.create_dataset("ascii_chunked", (4, 2), dtype=np.dtype((h5py.string_dtype("ascii"), (3,))),
                         chunks=(2, 1), compression="gzip")
    b[1, 1] = [b"x", b"yy", b"\xff raw"]
    r = f.create_dataset("refs", (2,), dtype=np.dtype((h5py.ref_dtype, (2,))))
    r[0] = [f.ref, target.ref]
    rr = f.create_dataset("region_refs", (1,), dtype=np.dtype((h5py.regionref_dtype, (2,))))
    rr[0] = [target.regionref[2:5], target.regionref[7:]]
    v = f.create_dataset("ragged", (2,), dtype=np.dtype((h5py.vlen_dtype("<i4"), (2, 2))))
    v[1] = np.array([np.arange(3), np.arange(0), np.arange(1), np.arange(5)], dtype=object).reshape(2, 2)
    scalar = f.create_dataset("scalar", (), dtype=np.dtype((h5py.string_dtype(), (2,))))
    scalar[()] = ["one", "two"]
    f.create_dataset("empty", (0,), dtype=np.dtype((h5py.string_dtype(), (2,))), maxshape=(None,))


def test_arrays_of_vlen_strings_references_and_sequences_read_as_h5py(make_h5, tmp_path):
    path = make_h5(_array_of_vlen, name="array_of_vlen.h5")
    translated = TranslatedFile(path, tmp_path)
    try:
        translated.assert_matches("/")
        f = translated.views["reopened"]
        with h5py.File(path) as truth:
            assert f["strings"][1].tolist() == [b"\xc3\xa9t\xc3\xa9", b""] == truth["strings"][1].tolist()
            assert f["ascii_chunked"][1, 1].tolist() == [b"x", b"yy", b"\xff raw"]
            assert f["ascii_chunked"].shape == (4, 2) and f["ascii_chunked"].dtype == truth["ascii_chunked"].dtype
            assert f[f["refs"][0][1]].name == "/target"
            assert f["ragged"][1][1, 1].tolist() == [0, 1, 2, 3, 4]
            assert f["scalar"][()].tolist() == [b"one", b"two"]
    finally:
        translated.close()


def test_a_bit_flipped_length_in_an_array_of_vlen_strings_is_refused(tmp_path):
    path = tmp_path / "flipped.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("s", (5,), dtype=np.dtype((h5py.string_dtype(), (2,))))
        for i in range(5):
            d[i] = [f"value {i}", f"other {i}"]
        offset = d.id.get_offset()
    with open(path, "r+b") as raw:  # the second entry of element 3: record 7
        raw.seek(offset + 7 * RECORD.itemsize)
        raw.write((0x7FFFFFFF).to_bytes(4, "little"))
    _assert_refused(_translate_in_subprocess(path), "s")


def test_compound_elements_with_vlen_members_stay_recorded_unreadable(make_h5):
    member = np.dtype([("name", h5py.string_dtype()), ("n", "<i4")])
    path = make_h5(lambda f: f.create_dataset("c", (2,), dtype=np.dtype((member, (2,)))), name="c.h5")
    with lindi_core.LindiH5pyFile.from_hdf5_file(path) as f:
        assert f["c"].shape == (2,)
        with pytest.raises(lindi_core.errors.UnreadableObjectError, match="compounds with variable-length"):
            f["c"][()]
