"""hdmf's StrDataset wrapper answers for our datasets what it answers for h5py's."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
from hdmf.utils import StrDataset

import lindi_core
from lindi_core.facade.hdmf_compat import DELEGATED_PROPERTIES


def _strings(f: h5py.File) -> None:
    ds = f.create_dataset("g/s", data=np.array(["a", "bb", "ccc"], dtype=object), dtype=h5py.string_dtype(),
                          chunks=(2,), maxshape=(None,), compression="gzip")
    ds.attrs["unit"] = "none"
    f.create_dataset("g/x", data=np.arange(3))


@pytest.mark.parametrize("opener", ["from_hdf5_file", "lindi_json"])
def test_str_dataset_properties_match_h5py(make_h5, tmp_path, opener):
    path = make_h5(_strings)
    if opener == "from_hdf5_file":
        lindi = lindi_core.LindiH5pyFile.from_hdf5_file(path)
    else:
        lindi_core.LindiH5pyFile.from_hdf5_file(path).write_lindi_file(tmp_path / "s.lindi.json")
        lindi = lindi_core.LindiH5pyFile.from_lindi_file(str(tmp_path / "s.lindi.json"))
    with h5py.File(path, "r") as h5:
        ours, theirs = StrDataset(lindi["g/s"], None), StrDataset(h5["g/s"], None)
        for name in DELEGATED_PROPERTIES:
            if name in ("ref", "regionref", "dims"):
                continue  # compared by use below
            mine, expected = getattr(ours, name), getattr(theirs, name)
            if name in ("file", "parent"):
                assert mine.name == expected.name, name
                assert mine.file.filename == expected.file.filename or opener == "lindi_json", name
                assert mine.file is lindi, name
            elif name == "attrs":
                assert dict(mine) == dict(expected)
            else:
                assert mine == expected, name
        assert lindi[ours.ref] == lindi["g/s"]
        assert len(ours.dims) == len(theirs.dims) == 1
        assert list(ours[:]) == list(theirs[:]) == ["a", "bb", "ccc"]
    lindi.close()


@pytest.mark.parametrize("order", ["lindi_core first", "hdmf first"])
def test_patch_applies_whichever_is_imported_first(order):
    imports = "import lindi_core; import hdmf.utils" if order == "lindi_core first" else \
        "import hdmf.utils; import lindi_core"
    code = f"""{imports}
import h5py, numpy as np, tempfile, os
path = os.path.join(tempfile.mkdtemp(), "s.h5")
with h5py.File(path, "w") as f:
    f.create_dataset("s", data=np.array(["a"], dtype=object), dtype=h5py.string_dtype())
f = lindi_core.LindiH5pyFile.from_hdf5_file(path)
wrapped = hdmf.utils.StrDataset(f["s"], None)
print(wrapped.name, wrapped.file is f, wrapped.parent.name)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/s", "True", "/"]
