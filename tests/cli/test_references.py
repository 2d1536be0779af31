"""``info``, ``verify`` and ``diff``: checked against what h5py says the HDF5 file holds."""

from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np

from lindi_core.cli import main
from lindi_core.samples import write_sample_nwb


def _chunked(f):
    f.create_dataset("a", data=np.arange(20_000, dtype="<i8"), chunks=(3000,), compression="gzip")
    f.create_dataset("b", data=np.random.default_rng(0).normal(size=(100, 80)), chunks=(50, 40))
    f.create_dataset("tiny", data=np.arange(3))


def _h5py_chunks(path: str) -> tuple[int, int]:
    """(number of chunks, bytes they take in the file) of the chunked datasets, as h5py says."""
    count = size = 0
    with h5py.File(path, "r") as f:
        for name in ("a", "b"):
            dsid = f[name].id
            for i in range(dsid.get_num_chunks()):
                count += 1
                size += dsid.get_chunk_info(i).size
    return count, size


def test_info_counts_the_chunks_and_bytes_h5py_finds_in_the_file(make_h5, every_form, capsys):
    path = make_h5(_chunked)
    count, size = _h5py_chunks(path)
    forms = every_form(path)
    for form, where in forms.items():
        capsys.readouterr()
        assert main(["info", where]) == 0, form
        out = capsys.readouterr().out
        assert f"referenced chunks: {count} ({size:,} bytes in 1 source(s))" in out, form
        source = forms["hdf5-url"] if form in ("hdf5-url", "json-url", "tar-url") else os.path.abspath(path)
        assert f"  {source}: {count} chunks, {size:,} bytes\n" in out, form
        assert "inline chunks: 1 (24 bytes)" in out and "arrays: 3" in out, form
        meta = json.loads(out.split("generation metadata: ", 1)[1])
        assert meta["generatedBy"] == "lindi-core", form


def test_verify_passes_then_finds_a_truncated_source(make_h5, every_form, capsys):
    path = make_h5(_chunked)
    forms = every_form(path)
    for form in ("json", "tar", "json-url", "tar-url"):
        assert main(["verify", forms[form]]) == 0, form
        assert capsys.readouterr().out.endswith(": ok\n")
    with h5py.File(path, "r") as f:
        last_end = max(f[n].id.get_chunk_info(i).byte_offset + f[n].id.get_chunk_info(i).size
                       for n in ("a", "b") for i in range(f[n].id.get_num_chunks()))
    with open(path, "r+b") as f:
        f.truncate(last_end - 1)  # one byte short of the furthest chunk
    for form in ("json", "tar", "json-url", "tar-url"):
        assert main(["verify", forms[form]]) == 1, form
        out = capsys.readouterr().out
        assert out.startswith("MISSING ") and f"reach byte {last_end:,}" in out and "1 problem(s)" in out, form


def test_verify_of_a_reference_file_from_a_url_does_not_read_the_local_files_it_names(make_h5, serve, tmp_path,
                                                                                       capsys):
    path = make_h5(_chunked)
    assert main(["translate", path, "-o", str(tmp_path / "local.lindi.json"), "-q"]) == 0
    url = serve(tmp_path).url_for("local.lindi.json")
    assert main(["verify", url]) == 1
    out = capsys.readouterr().out
    assert "MISSING " + os.path.abspath(path) in out and "allow_local" in out


def test_verify_deep_decodes_every_chunk_and_compares_with_the_source(make_h5, tmp_path, capsys):
    path = make_h5(_chunked)
    ref = str(tmp_path / "x.lindi.json")
    assert main(["translate", path, "-o", ref, "-q"]) == 0
    assert main(["verify", ref, "--deep", "--source", path]) == 0
    assert capsys.readouterr().out == f"{ref}: ok\n"

    other = make_h5(lambda f: (_chunked(f), f["b"].__setitem__((0, 0), 42.0), f.create_dataset("extra", data=[1])),
                    name="other.h5")
    assert main(["verify", ref, "--deep", "--source", other]) == 1
    out = capsys.readouterr().out
    assert "BAD /b: values at (slice(0, 50, 1), slice(0, 40, 1)) differ" in out
    assert "BAD /extra: in the source, not in the reference file" in out and "2 problem(s)" in out

    with h5py.File(path, "r") as f:  # garbage in place of one deflated chunk: ranges fine, bytes not
        info = f["a"].id.get_chunk_info(2)
    with open(path, "r+b") as f:
        f.seek(info.byte_offset)
        f.write(b"\xff" * info.size)
    assert main(["verify", ref]) == 0
    capsys.readouterr()
    assert main(["verify", ref, "--deep"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("BAD /a: ") and "1 problem(s)" in out


def test_verify_deep_of_an_nwb_file_with_references_and_strings(tmp_path, capsys):
    nwb = write_sample_nwb(tmp_path / "s.nwb", n_samples=10_000)
    ref = str(tmp_path / "s.lindi.tar")
    assert main(["translate", nwb, "-o", ref, "-q"]) == 0
    assert main(["verify", ref, "--deep", "--source", nwb, "-q"]) == 0
    assert capsys.readouterr().out == f"{ref}: ok\n"
    with h5py.File(nwb, "r+") as f:  # the group column names another electrode group now
        f.copy("general/extracellular_ephys/shank0", "general/extracellular_ephys/shank9")
        refs = f["general/extracellular_ephys/electrodes/group"]
        refs[0] = f["general/extracellular_ephys/shank9"].ref
    assert main(["verify", ref, "--deep", "--source", nwb, "-q"]) == 1
    assert "BAD /general/extracellular_ephys/electrodes/group: values" in capsys.readouterr().out


def test_diff_names_objects_attributes_and_chunks_that_differ(make_h5, tmp_path, capsys):
    path = make_h5(_chunked)
    a, b = str(tmp_path / "a.lindi.json"), str(tmp_path / "b.lindi.json")
    assert main(["translate", path, "-o", a, "-q"]) == 0
    copy = str(tmp_path / "copy.h5")
    shutil.copy(path, copy)
    assert main(["diff", a, path]) == 0
    assert capsys.readouterr().out == "no differences\n"
    with h5py.File(copy, "r+") as f:
        f["a"].attrs["unit"] = "s"
        f.create_group("new")
        del f["tiny"]
    assert main(["translate", copy, "-o", b, "-q", "--ref-url", os.path.abspath(path)]) == 0
    assert main(["diff", a, b]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "+ attribute /a unit = 's'" in lines and "+ group /new" in lines and "- array /tiny" in lines
    assert "- chunk tiny/0" in lines
    assert not any(line.startswith(("~ chunk a/", "~ chunk b/")) for line in lines)  # same bytes, same refs
    assert main(["diff", a, b, "-q"]) == 1

    with h5py.File(copy, "r+") as f:
        f["b"][0, 0] = -1.0  # rewritten chunk data in place: the same refs
    assert main(["translate", copy, "-o", b, "-q"]) == 0  # refs into the copy now
    assert main(["diff", a, b]) == 1
    out = capsys.readouterr().out
    assert f"~ chunk b/0.0: [{os.path.abspath(path)}, " in out and f"[{copy}, " in out
