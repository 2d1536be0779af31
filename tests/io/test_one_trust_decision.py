"""Every opener decides the trust of what it opens, names URLs and containers the same way:
the cases where the openers used to disagree."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import lindi_core
from lindi_core.errors import AccessDeniedError
from lindi_core.format import jsonio
from lindi_core.io.address_guard import AddressGuard, AddressSpace

DATA = np.arange(250, dtype="<i4")


def reference_file(target: str) -> dict:
    """A reference file whose one array ``x`` is the bytes at ``target``."""
    return {"version": 1, "refs": {
        ".zgroup": json.dumps({"zarr_format": 2}),
        "x/.zarray": json.dumps({"zarr_format": 2, "shape": [len(DATA)], "chunks": [len(DATA)], "dtype": "<i4",
                                 "compressor": None, "filters": None, "fill_value": 0, "order": "C"}),
        "x/0": [target, 0, DATA.nbytes],
    }}


def test_a_url_whose_scheme_is_in_capitals_is_a_url(serve, tmp_path):
    (tmp_path / "data.bin").write_bytes(DATA.tobytes())
    server = serve()
    (tmp_path / "x.lindi.json").write_text(json.dumps(reference_file(server.url_for("data.bin"))))
    url = server.url_for("x.lindi.json").replace("http://", "HTTP://")
    with lindi_core.LindiH5pyFile.from_lindi_file(url) as f:
        np.testing.assert_array_equal(f["x"][()], DATA)


def test_an_external_link_to_a_reference_file_url_with_a_query_opens_a_reference_file(serve, tmp_path):
    (tmp_path / "data.bin").write_bytes(DATA.tobytes())
    server = serve()
    (tmp_path / "inner.lindi.json").write_text(json.dumps(reference_file(server.url_for("data.bin"))))
    outer = str(tmp_path / "outer.h5")
    with h5py.File(outer, "w") as f:
        f["link"] = h5py.ExternalLink(server.url_for("inner.lindi.json") + "?X-Signature=abc", "/x")
    with lindi_core.LindiH5pyFile.from_hdf5_file(outer) as f:
        np.testing.assert_array_equal(f["link"][()], DATA)


def test_a_reference_file_system_object_keeps_allow_local_as_its_dict_does(tmp_path):
    (tmp_path / "data.bin").write_bytes(DATA.tobytes())
    as_dict = reference_file(str(tmp_path / "data.bin"))
    with pytest.raises(AccessDeniedError):
        lindi_core.LindiH5pyFile.from_reference_file_system(as_dict, allow_local=False)["x"][()]
    rfs = jsonio.from_json_dict(as_dict)
    with pytest.raises(AccessDeniedError):
        lindi_core.LindiH5pyFile.from_reference_file_system(rfs, allow_local=False)["x"][()]
    np.testing.assert_array_equal(lindi_core.LindiH5pyFile.from_reference_file_system(rfs)["x"][()], DATA)


def test_a_local_reference_file_opened_through_a_link_keeps_the_reach_of_the_linking_file(serve, tmp_path):
    (tmp_path / "data.bin").write_bytes(DATA.tobytes())
    server = serve()  # on loopback: beyond the reach of a file that came from a public address
    (tmp_path / "inner.lindi.json").write_text(json.dumps(reference_file(server.url_for("data.bin"))))
    outer = str(tmp_path / "outer.h5")
    with h5py.File(outer, "w") as f:
        f["link"] = h5py.ExternalLink("inner.lindi.json", "/x")
    public = AddressGuard.for_reference_file(AddressSpace.PUBLIC)
    with lindi_core.LindiH5pyFile.from_hdf5_file(outer, address_guard=public) as f:
        with pytest.raises(AccessDeniedError, match="loopback address"):
            f["link"][()]
    assert server.stats.requests == 0
    with lindi_core.LindiH5pyFile.from_hdf5_file(outer) as f:  # the same file, trusted: it reads
        np.testing.assert_array_equal(f["link"][()], DATA)
