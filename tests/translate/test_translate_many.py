"""translate-many: many files on a dask LocalCluster, resumable, failures isolated."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import orjson
import pytest
import zarr

import lindi_core
from lindi_core.batch import SUMMARY_NAME, Asset, ManifestError, load_manifest, output_path
from lindi_core.batch.run import TaskSettings, process_asset
from lindi_core.batch.versions import same_version, source_version
from lindi_core.errors import ByteSourceError
from lindi_core.translate import ChunkOptions

GOOD = [f"sub-{i:02d}/sub-{i:02d}_ses-1.nwb" for i in range(1, 15)]
CORRUPT = ["sub-90/truncated.nwb", "sub-91/garbage.nwb", "sub-92/empty.nwb"]
MISSING = "sub-99/gone.nwb"  # listed, but the server answers 404
NWB = "sub-50/sub-50_pynwb.nwb"


def _write_good(path: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.attrs["seed"] = seed
        f.create_dataset("acquisition/data", data=rng.integers(0, 1000, (200 + seed, 4)), chunks=(50, 4),
                         compression="gzip")
        f.create_dataset("contiguous", data=rng.random(5000 + seed))
        f["small"] = np.arange(seed + 1)
        f["link"] = h5py.SoftLink("/small")


@pytest.fixture(scope="module")
def source_folder(tmp_path_factory) -> str:
    """~20 files (good ones, one pynwb file, corrupt ones), generated once per module."""
    from lindi_core.samples import write_sample_nwb

    root = str(tmp_path_factory.mktemp("dandiset"))
    for i, name in enumerate(GOOD):
        os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
        _write_good(os.path.join(root, name), i)
    os.makedirs(os.path.join(root, os.path.dirname(NWB)))
    write_sample_nwb(os.path.join(root, NWB), n_samples=6000, n_channels=4)
    for name in CORRUPT:
        os.makedirs(os.path.join(root, os.path.dirname(name)))
    with open(os.path.join(root, GOOD[0]), "rb") as f:
        whole = f.read()
    with open(os.path.join(root, CORRUPT[0]), "wb") as f:
        f.write(whole[: len(whole) // 3])
    with open(os.path.join(root, CORRUPT[1]), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    open(os.path.join(root, CORRUPT[2]), "wb").close()
    return root


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster of two single-threaded worker processes for the whole module."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


@pytest.fixture
def dandiset(source_folder, tmp_path, serve):
    """A fresh copy of the files, served; returns (folder, server)."""
    folder = str(tmp_path / "served")
    shutil.copytree(source_folder, folder)
    return folder, serve(folder)


def _listing(server, names) -> dict:
    """A DANDI API page of assets: contentUrl lists an s3:// URL before the http one."""
    return {"count": len(names), "next": None, "previous": None,
            "results": [{"asset_id": f"id-{i}", "path": name, "size": 0,
                         "contentUrl": [f"s3://bucket/{name}", server.url_for(name)]}
                        for i, name in enumerate(names)]}


def _refs_and_templates(path: str) -> tuple:
    with open(path, "rb") as f:
        obj = orjson.loads(f.read())
    return obj["refs"], obj["templates"]


def _by_name(summary) -> dict:
    return {o.name: o for o in summary.outcomes}


# --- fast tests: names, manifests, versions -----------------------------------------------------

def test_output_names_stay_inside_outdir(tmp_path):
    out = str(tmp_path / "out")
    os.makedirs(out)
    assert output_path(out, "sub-01/sub-01_ses-1.nwb") == os.path.join(
        os.path.realpath(out), "sub-01", "sub-01_ses-1.nwb.lindi.json")
    for bad in ["../x.nwb", "sub-01/../../x.nwb", "/etc/x.nwb", "", "a//b.nwb", "./x.nwb"]:
        with pytest.raises(ManifestError):
            output_path(out, bad)
    os.symlink(str(tmp_path), os.path.join(out, "escape"))
    with pytest.raises(ManifestError, match="leads out"):
        output_path(out, "escape/x.nwb")


def test_manifest_lines_comments_and_names(tmp_path):
    manifest = tmp_path / "m.txt"
    manifest.write_text("# assets\n\nhttp://h/a/b/file%231.nwb  # a comment\n/data/x.h5 sub-01/x.nwb\n"
                        "http://h/dir/#frag.h5 named\n")
    assert load_manifest(str(manifest)) == [Asset("http://h/a/b/file%231.nwb", "file%231.nwb"),
                                            Asset("/data/x.h5", "sub-01/x.nwb"),
                                            Asset("http://h/dir/#frag.h5", "named")]
    manifest.write_text("a b c\n")
    with pytest.raises(ManifestError, match="line 1"):
        load_manifest(str(manifest))


def test_dandi_listing_pages_followed_over_http(tmp_path, serve):
    server = serve(tmp_path)
    page2 = {"next": None, "results": [{"asset_id": "2", "path": "sub-02/b.nwb", "size": 1,
                                        "contentUrl": ["s3://x/b", "https://s/b"]}]}
    (tmp_path / "page2.json").write_text(json.dumps(page2))
    page1 = {"next": server.url_for("page2.json"),
             "results": [{"asset_id": "1", "path": "sub-01/a.nwb", "size": 1, "contentUrl": ["http://s/a"]}]}
    (tmp_path / "page1.json").write_text(json.dumps(page1))
    assert load_manifest(server.url_for("page1.json")) == [Asset("http://s/a", "sub-01/a.nwb"),
                                                           Asset("https://s/b", "sub-02/b.nwb")]
    (tmp_path / "bad.json").write_text(json.dumps([{"path": "a", "contentUrl": ["s3://only"]}]))
    with pytest.raises(ManifestError, match="no http"):
        load_manifest(str(tmp_path / "bad.json"))


def test_url_version_from_the_server(tmp_path, serve):
    (tmp_path / "a.h5").write_bytes(b"x" * 100)
    server = serve(tmp_path)
    url = server.url_for("a.h5")
    first = source_version(url)
    assert first["size"] == 100 and first["etag"] and first["lastModified"]
    assert same_version(first, source_version(url))
    os.utime(tmp_path / "a.h5", ns=(1, 1))  # same size, other mtime: another ETag
    assert not same_version(first, source_version(url))
    with pytest.raises(ByteSourceError, match="404"):
        source_version(server.url_for("nothing.h5"))


def test_same_version_needs_proof():
    base = {"source": "http://s/a", "size": 5}
    assert not same_version(base, dict(base))  # neither ETag nor Last-Modified: no proof
    dated = {**base, "lastModified": "Mon, 01 Jan 2024 00:00:00 GMT"}
    assert same_version(dated, dict(dated))
    assert not same_version(dated, {**dated, "size": 6})
    assert not same_version({**dated, "etag": '"1"'}, {**dated, "etag": '"2"'})
    assert not same_version({**dated, "source": "http://s/b"}, dated)


def test_source_changed_during_translation_is_not_kept(tmp_path, monkeypatch):
    source = str(tmp_path / "a.h5")
    _write_good(source, 1)
    output = str(tmp_path / "out" / "a.h5.lindi.json")
    translate_package = importlib.import_module("lindi_core.translate")  # lindi_core.translate is the function
    real = translate_package.translate_to_file

    def translate_then_touch(*args, **kwargs):
        result = real(*args, **kwargs)
        _write_good(source, 2)  # rewritten while being translated
        return result

    monkeypatch.setattr(translate_package, "translate_to_file", translate_then_touch)
    outcome = process_asset(Asset(source, "a.h5"), output, TaskSettings(ChunkOptions(), None))
    assert outcome.status == "failed" and "changed" in outcome.reason
    assert not os.path.exists(output)


def test_dry_run_lists_without_translating(tmp_path, serve):
    names = GOOD[:3] + [MISSING]
    for i, name in enumerate(GOOD[:3]):
        os.makedirs(tmp_path / "served" / os.path.dirname(name))
        _write_good(str(tmp_path / "served" / name), i)
    server = serve(tmp_path / "served")
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, os.path.dirname(GOOD[0])))
    lindi_core.translate_to_file(server.url_for(GOOD[0]), output_path(out, GOOD[0]), progress=False)
    summary = lindi_core.translate_many([Asset(server.url_for(n), n) for n in names] + [Asset("x", "../x")], out,
                                        dry_run=True)
    outcomes = _by_name(summary)
    # translated without a recorded source version: not provably up to date
    assert {n: outcomes[n].status for n in GOOD[:3]} == {n: "to do" for n in GOOD[:3]}
    assert outcomes[MISSING].status == "failed" and "404" in outcomes[MISSING].reason
    assert outcomes["../x"].status == "failed"
    assert sorted(os.listdir(out)) == [os.path.dirname(GOOD[0])]  # nothing written, no summary either


# --- on the cluster -------------------------------------------------------------------------------

@pytest.mark.slow
def test_many_files_resumable_on_a_cluster(dandiset, tmp_path, cluster):
    folder, server = dandiset
    manifest = tmp_path / "manifest.txt"
    all_names = GOOD + [NWB] + CORRUPT + [MISSING]
    manifest.write_text("# a dandiset\n" + "".join(f"{server.url_for(n)} {n}\n" for n in all_names))
    out = str(tmp_path / "out")
    good = GOOD + [NWB]

    first = lindi_core.translate_many(str(manifest), out, scheduler=cluster.scheduler_address, progress=False)
    outcomes = _by_name(first)
    assert {n for n, o in outcomes.items() if o.status == "done"} == set(good)
    assert {n for n, o in outcomes.items() if o.status == "failed"} == set(CORRUPT + [MISSING])
    assert "HTTP 404" in outcomes[MISSING].reason
    for name in CORRUPT:
        assert outcomes[name].reason, name
    # every output is what one translation in this process makes
    single = str(tmp_path / "single")
    os.makedirs(single)
    for name in good:
        alone = os.path.join(single, name.replace("/", "_") + ".lindi.json")
        lindi_core.translate_to_file(server.url_for(name), alone, progress=False)
        assert _refs_and_templates(output_path(out, name)) == _refs_and_templates(alone), name
    assert not any(os.path.exists(output_path(out, n)) for n in CORRUPT + [MISSING])
    # and reads back the data h5py reads
    store = lindi_core.ReferenceStore.from_file(output_path(out, GOOD[3]))
    with h5py.File(os.path.join(folder, GOOD[3]), "r") as f:
        root = zarr.open_group(store, mode="r", zarr_format=2)
        assert np.array_equal(root["acquisition/data"][:], f["acquisition/data"][:])
    store.close()
    with open(os.path.join(out, SUMMARY_NAME), "rb") as f:
        written = orjson.loads(f.read())
    assert written["counts"] == {"done": len(good), "skipped": 0, "failed": 4, "to do": 0}

    second = lindi_core.translate_many(str(manifest), out, scheduler=cluster.scheduler_address, progress=False)
    assert {o.name for o in second.skipped} == set(good) and not second.done
    assert {o.name for o in second.failed} == set(CORRUPT + [MISSING])

    # one file changes; another's output is lost as a killed run would lose it, with the
    # temporary a crash mid-write leaves beside it
    _write_good(os.path.join(folder, GOOD[5]), 99)
    lost = output_path(out, GOOD[7])
    os.remove(lost)
    stale = os.path.join(os.path.dirname(lost), f".{os.path.basename(lost)}.999999999.abcd.lindi.json.tmp")
    with open(stale, "w") as f:
        f.write('{"version":1,')
    third = lindi_core.translate_many(str(manifest), out, scheduler=cluster.scheduler_address, progress=False)
    assert {o.name for o in third.done} == {GOOD[5], GOOD[7]}
    assert len(third.skipped) == len(good) - 2
    redone = lindi_core.ReferenceStore.from_file(output_path(out, GOOD[5]))
    assert zarr.open_group(redone, mode="r", zarr_format=2).attrs["seed"] == 99
    redone.close()


@pytest.mark.slow
def test_dandi_listing_as_manifest_on_a_cluster(dandiset, tmp_path, cluster):
    folder, server = dandiset
    names = GOOD[:4] + [MISSING]
    (tmp_path / "assets.json").write_text(json.dumps(_listing(server, names)))
    out = str(tmp_path / "out")
    summary = lindi_core.translate_many(str(tmp_path / "assets.json"), out, scheduler=cluster.scheduler_address,
                                        progress=False)
    assert {o.name for o in summary.done} == set(GOOD[:4])
    assert [o.name for o in summary.failed] == [MISSING]
    assert os.path.isfile(os.path.join(out, "sub-01", "sub-01_ses-1.nwb.lindi.json"))


@pytest.mark.slow
def test_killed_cli_run_then_rerun_completes(dandiset, tmp_path):
    """The CLI with its own LocalCluster, killed once a first output is there; the re-run
    finishes the rest and leaves no partial file under a final name."""
    folder, server = dandiset
    server.latency = 0.02  # slow enough that the run is still going when it is killed
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join(f"{server.url_for(n)} {n}\n" for n in GOOD))
    out = str(tmp_path / "out")
    command = [sys.executable, "-m", "lindi_core.cli", "translate-many", "-m", str(manifest), "-o", out,
               "--workers", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        limit = time.monotonic() + 120
        while not os.path.exists(output_path(out, GOOD[0])) and not os.path.exists(output_path(out, GOOD[1])):
            assert time.monotonic() < limit and child.poll() is None
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finished = [n for n in GOOD if os.path.exists(output_path(out, n))]
    assert 1 <= len(finished) < len(GOOD)
    server.latency = 0.0
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with open(os.path.join(out, SUMMARY_NAME), "rb") as f:
        assets = {a["name"]: a["status"] for a in orjson.loads(f.read())["assets"]}
    assert {n for n, s in assets.items() if s == "skipped"} >= set(finished)
    assert set(assets) == set(GOOD) and set(assets.values()) <= {"done", "skipped"}
    for name in GOOD:
        lindi_core.load_reference_file(output_path(out, name))  # each one whole


def test_cli_needs_sources_or_a_manifest(tmp_path, capsys):
    from lindi_core.cli import main

    assert main(["translate-many", "-o", str(tmp_path / "out")]) == 2
    assert main(["translate-many", "a.h5", "-m", "m.txt", "-o", str(tmp_path / "out")]) == 2
    assert "either sources or a --manifest" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_local_files_on_a_cluster(tmp_path, cluster, capsys):
    from lindi_core.cli import main

    sources = []
    for i in range(3):
        sources.append(str(tmp_path / f"f{i}.h5"))
        _write_good(sources[-1], i)
    out = str(tmp_path / "out")
    args = ["translate-many", *sources, str(tmp_path / "missing.h5"), "-o", out,
            "--scheduler", cluster.scheduler_address, "--no-progress"]
    assert main(args) == 1  # a file failed
    table = capsys.readouterr().out
    assert "failed  missing.h5  (FileNotFoundError" in table and "3 done, 0 skipped, 1 failed" in table
    assert main(args[:4] + args[5:]) == 0
    assert "0 done, 3 skipped, 0 failed" in capsys.readouterr().out
    os.utime(sources[1], ns=(5, 5))  # touched: not provably the same file
    assert main(args[:4] + args[5:] + ["--dry-run"]) == 0
    assert "to do    f1.h5" in capsys.readouterr().out
