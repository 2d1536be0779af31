"""The comparator itself: two h5py files that differ in one way each are told apart, every
difference listed (so the third-party tests that find none could have found them)."""

from __future__ import annotations

import h5py
import numpy as np

from tests.h5walk import walk_differences


def _write(path, variant: bool) -> None:
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["text"] = np.bytes_(b"abc") if variant else "abc"
        nan = np.array([np.nan], "f8")
        if variant:
            nan.view("u8")[0] |= 1  # another NaN payload
        f["nan"] = nan
        f["values"] = np.arange(10, dtype="i4") + (np.arange(10) == 7) * variant
        f["target"] = np.arange(3)
        f["other"] = np.arange(3)
        if variant:
            f["link"] = h5py.SoftLink("/target")
        else:
            f["link"] = f["target"]
        colors = {"red": 1, "blue": 2} if variant else {"red": 1, "green": 2}
        f.create_dataset("enum", data=np.array([1, 2], "u1"), dtype=h5py.enum_dtype(colors, basetype="u1"))
        f.attrs["ref"] = f["other" if variant else "target"].ref
        f.create_dataset("chunked", data=np.arange(100.0), chunks=(10,), compression="gzip",
                         compression_opts=4 if variant else 5)
        data = f.create_dataset("data", data=np.arange(6.0).reshape(2, 3))
        f["x"] = np.arange(2.0)
        f["x"].make_scale("x")
        if not variant:
            data.dims[0].attach_scale(f["x"])
        data.dims[1].label = "columns" if variant else "cols"
        f.create_group("b" if variant else "a")
        f.create_group("a" if variant else "b")


def test_every_difference_is_listed(tmp_path):
    _write(tmp_path / "one.h5", False)
    _write(tmp_path / "two.h5", True)
    with h5py.File(tmp_path / "one.h5", "r") as one, h5py.File(tmp_path / "two.h5", "r") as two:
        differences = walk_differences(one, two)
        assert walk_differences(one, one) == []
    text = "\n".join(differences)
    expected = ["/@text: value type", "/nan[()]: values (bit for bit)", "/values[()]: values (bit for bit)",
                "/link: link kind", "/enum: dtype", "/@ref: reference target", "/chunked: compression_opts",
                "/data dims[0]: label and attached scales", "/data dims[1]: label and attached scales",
                "/: link names (in order)"]
    missing = [what for what in expected if what not in text]
    assert not missing, f"not reported: {missing}\n{text}"
