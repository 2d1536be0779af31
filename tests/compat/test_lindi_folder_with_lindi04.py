"""``.lindi.d`` folders between LINDI 0.4 and lindi-core, each run for real: LINDI writes one
(new chunks as files, a rewritten chunk as ``.v2``; and ``write_lindi_file`` of a translated HDF5
file), lindi-core reads it, edits it in place, and LINDI reads lindi-core's edits back."""

from __future__ import annotations

import json

import h5py
import numpy as np

from lindi_core.facade.files import LindiH5pyFile as H5
from tests.compat.lindi04 import needs_lindi04, run_lindi04
from tests.file_digests import file_digests

LINDI_WRITES = """
import json, numpy as np, lindi
rng = np.random.default_rng(7)
with lindi.LindiH5pyFile.from_lindi_file("theirs.lindi.d", mode="w") as f:
    f.create_dataset("big", data=rng.standard_normal(3000), chunks=(1000,))
    f.create_dataset("small", data=np.arange(5))
    f.create_group("g").create_dataset("z", data=rng.standard_normal((40, 40)))
    f.attrs["title"] = "from LINDI"
with lindi.LindiH5pyFile.from_lindi_file("theirs.lindi.d", mode="r+") as f:
    f["big"][1000:2000] = rng.standard_normal(1000)
lindi.LindiH5pyFile.from_hdf5_file("data.h5", url=%(h5)r).write_lindi_file("translated.lindi.d")
with lindi.LindiH5pyFile.from_lindi_file("theirs.lindi.d") as f:
    print(json.dumps({"big": f["big"][()].tolist(), "z": f["g/z"][()].tolist(), "small": f["small"][()].tolist()}))
"""

LINDI_READS = """
import json, lindi
with lindi.LindiH5pyFile.from_lindi_file("theirs.lindi.d") as f:
    print(json.dumps({"big": f["big"][()].tolist(), "added": f["added"][()].tolist(), "note": f.attrs["note"],
                      "z": f["g/z"][()].tolist()}))
"""


@needs_lindi04
def test_lindi_folders_read_edited_and_read_back_by_lindi(make_h5, tmp_path):
    rng = np.random.default_rng(1)
    h5 = make_h5(lambda f: (f.create_dataset("x", data=rng.standard_normal(5000), chunks=(1000,),
                                             compression="gzip"),
                            f.create_dataset("s", data=np.arange(12).reshape(3, 4))))
    theirs = run_lindi04(LINDI_WRITES % {"h5": h5}, tmp_path)
    folder = tmp_path / "theirs.lindi.d"
    assert {"blobs/big/0", "blobs/big/1", "blobs/big/1.v2", "blobs/g/z/0.0"} <= set(file_digests(folder))  # LINDI's form

    with H5.from_lindi_file(str(folder)) as f:  # what LINDI reads, lindi-core reads
        np.testing.assert_array_equal(f["big"][()], theirs["big"])
        np.testing.assert_array_equal(f["g/z"][()], theirs["z"])
        np.testing.assert_array_equal(f["small"][()], theirs["small"])
        assert f.attrs["title"] == "from LINDI"
    with H5.from_lindi_file(str(tmp_path / "translated.lindi.d")) as f, h5py.File(h5, "r") as truth:
        np.testing.assert_array_equal(f["x"][()], truth["x"][()])
        np.testing.assert_array_equal(f["s"][()], truth["s"][()])

    reference = (folder / "lindi.json").read_bytes()
    with H5.from_lindi_file(str(folder), mode="r+"):
        pass
    assert (folder / "lindi.json").read_bytes() == reference  # opened and closed unchanged: untouched

    before = file_digests(folder)
    added = rng.standard_normal(2000)
    rewritten = rng.standard_normal(1000)  # incompressible: a chunk file, not inline
    with H5.from_lindi_file(str(folder), mode="r+") as f:
        f["big"][0:1000] = rewritten
        f.create_dataset("added", data=added, chunks=(1000,))
        f.attrs["note"] = "edited by lindi-core"
    after = file_digests(folder)
    assert all(after[name] == digest for name, digest in before.items() if name != "lindi.json")
    assert {"blobs/big/0.v2", "blobs/added/0", "blobs/added/1"} <= set(after)

    back = run_lindi04(LINDI_READS, tmp_path)  # and LINDI reads lindi-core's edits
    expected = np.array(theirs["big"])
    expected[0:1000] = rewritten
    np.testing.assert_array_equal(back["big"], expected)
    np.testing.assert_array_equal(back["added"], added)
    np.testing.assert_array_equal(back["z"], theirs["z"])
    assert back["note"] == "edited by lindi-core"
    assert json.loads((folder / "lindi.json").read_text())["refs"]["added/0"][0] == "./blobs/added/0"
