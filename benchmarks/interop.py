"""Cross-reading with LINDI 0.4: each tool reads the files the other writes.

    python benchmarks/interop.py               # every check, results in results/interop.json
    python benchmarks/interop.py [--out PATH] [--commit REV]

LINDI 0.4.6 runs in its own venv (``peers.py``; it pins zarr<3). The checks:

1. ``.lindi.json`` translated by one tool from an HDF5 file holding the usual variety (chunked
   gzip, contiguous, scalars, fixed and variable-length strings, object references, compounds,
   attributes of every kind, soft links), read by the other: every dataset and attribute equals
   what h5py reads from the HDF5 file, in both directions.
2. ``.lindi.tar`` written from scratch by one tool (attributes, chunked datasets whose chunks
   are members of the archive, gzip), read by the other.
3. ``.lindi.tar`` grown in place: a container made by one tool opened by the other in ``r+``,
   a dataset and an attribute added, then read by the first (old and new content).
4. pynwb reads an NWB file through each tool's reference file, opened by the other tool.

Equality is judged on a summary both sides compute the same way (:data:`SUMMARY_CODE`): per
dataset its shape, dtype, and values (references as the paths they point at); per object its
attributes. The script exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from bench_common import lindi_core_under_test, machine_facts, result_header, write_results  # noqa: E402

WORK_DIR = peers.CACHE_DIR / "out" / "interop"
RESULTS_DIR = peers.BENCH_DIR / "results"

# Run in both environments (h5py-compatible objects of either tool, or h5py itself).
SUMMARY_CODE = r'''
import hashlib as _hashlib
import json as _json

import h5py as _h5py
import numpy as _np


def _compact(value):
    """Small values as they are, large ones as a digest of their JSON form."""
    text = _json.dumps(value, sort_keys=True)
    return value if len(text) <= 200 else "sha256:" + _hashlib.sha256(text.encode()).hexdigest()[:20]


def _plain(value, f):
    if isinstance(value, _h5py.Reference) or type(value).__name__.endswith("Reference"):
        try:  # not by truth value: LINDI 0.4's references are all false
            return ("ref", f[value].name)
        except Exception:  # a null reference
            return ("ref", None)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, _np.void):
        return [_plain(v, f) for v in value.tolist()] if value.dtype.names is None else \
            [_plain(value[n], f) for n in value.dtype.names]
    if isinstance(value, _np.ndarray):
        if value.dtype.kind == "O" or value.dtype.names is not None:
            return [_plain(v, f) for v in value.reshape(-1)] + [list(value.shape)]
        if value.dtype.kind == "S":
            return [v.decode("utf-8", "replace") for v in value.reshape(-1).tolist()] + [list(value.shape)]
        if value.dtype.kind == "f":
            return [None if v != v else v for v in value.reshape(-1).tolist()] + [list(value.shape)]
        return value.reshape(-1).tolist() + [list(value.shape)]
    if isinstance(value, _np.generic):
        return _plain(value.item(), f) if not isinstance(value, _np.bytes_) else value.decode("utf-8", "replace")
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v, f) for v in value]
    return value


def summary(f, skip=("specifications",)):
    """Datasets (shape, dtype, values) and attributes of every object under ``f``."""
    out = {}

    def attrs_of(obj):
        return {k: _compact(_plain(obj.attrs[k], f)) for k in sorted(obj.attrs.keys())}

    def visit(name, obj):
        entry = {"attrs": attrs_of(obj)}
        if isinstance(obj, _h5py.Dataset):
            entry["shape"] = list(obj.shape) if obj.shape is not None else None
            entry["dtype"] = str(obj.dtype.str if obj.dtype.names is None else obj.dtype.descr)
            if obj.dtype.names is not None and len(obj.shape) == 1:
                # LINDI 0.4 reads compounds only field by field: so does the summary, everywhere.
                entry["values"] = {n: _compact(_plain(_np.asarray(list(obj[n])), f)) for n in obj.dtype.names}
            else:
                entry["values"] = _compact(_plain(obj[()], f))
        out[name] = entry

    def walk(group, prefix):  # by hand: LINDI 0.4 has no visititems
        for name in sorted(group.keys()):
            path = prefix + name
            if path.split("/")[0] in skip:
                continue
            obj = group[name]
            visit(path, obj)
            if isinstance(obj, _h5py.Group):
                walk(obj, path + "/")

    out["/"] = {"attrs": attrs_of(f)}
    walk(f, "")
    return out
'''

NWB_DIGEST_CODE = r'''
def nwb_digest(nwb):
    import numpy as np
    series = nwb.acquisition["raw"]
    units = nwb.units
    return {"identifier": nwb.identifier, "description": nwb.session_description,
            "raw shape": list(series.data.shape), "raw sum": int(np.asarray(series.data[:]).astype("i8").sum()),
            "electrodes": [str(x) for x in series.electrodes.table["location"][:]],
            "spikes": [float(np.sum(units.get_unit_spike_times(i))) for i in range(len(units))],
            "trials": len(nwb.trials), "module": sorted(nwb.processing["behavior"].data_interfaces),
            "pixel masks": pixel_masks(nwb.processing["ophys"]["ImageSegmentation"]["rois"])}


def pixel_masks(rois):
    try:
        return [[list(map(float, p)) for p in rois["pixel_mask"][i]] for i in range(len(rois))]
    except Exception as exc:  # LINDI 0.4 reads compound datasets field by field only
        return f"unreadable: {type(exc).__name__}: {exc}"
'''
# The steps, run in either tool's environment: "TOOL = 'lindi'" or "TOOL = 'lindi_core'" goes first.
CHILD_CODE = SUMMARY_CODE + NWB_DIGEST_CODE + r'''
import importlib
import json
import sys

import numpy as np

tool = importlib.import_module(TOOL)
File = tool.LindiH5pyFile
task, args = sys.argv[1], sys.argv[2:]
if task == "translate":  # HDF5 -> .lindi.json
    if TOOL == "lindi":
        with File.from_hdf5_file(args[0], url=args[0]) as f:
            f.write_lindi_file(args[1])
    else:
        tool.translate_to_file(args[0], args[1], progress=False)
    print(json.dumps({"ok": True}))
elif task == "summary":  # a reference file (json or tar) -> summary
    with File.from_lindi_file(args[0]) as f:
        print(json.dumps({"summary": summary(f)}))
elif task == "hdf5-summary":
    import h5py
    with h5py.File(args[0], "r") as f:
        print(json.dumps({"summary": summary(f)}))
elif task == "write-tar":
    with File.from_lindi_file(args[0], mode="w") as f:
        f.attrs["title"] = "written by " + TOOL
        f.attrs["count"] = 7
        f.create_dataset("matrix", data=np.arange(120_000, dtype="<f4").reshape(300, 400), chunks=(100, 400))
        g = f.create_group("group")
        g.attrs["ratio"] = 0.25
        g.create_dataset("small", data=np.arange(10, dtype="<i8"))
        g.create_dataset("packed", data=(np.arange(50_000) % 97).astype("<i2"), chunks=(10_000,),
                         compression="gzip")
    print(json.dumps({"ok": True}))
elif task == "append-tar":
    with File.from_lindi_file(args[0], mode="r+") as f:
        f.attrs["appended_by"] = TOOL
        f.create_dataset("appended", data=np.arange(30_000, dtype="<u4").reshape(300, 100), chunks=(100, 100))
    print(json.dumps({"ok": True}))
elif task in ("pynwb", "pynwb-hdf5"):
    import pynwb
    if task == "pynwb":
        with File.from_lindi_file(args[0]) as f, pynwb.NWBHDF5IO(file=f, mode="r") as io:
            print(json.dumps({"pynwb": nwb_digest(io.read())}))
    else:
        with pynwb.NWBHDF5IO(args[0], mode="r") as io:
            print(json.dumps({"pynwb": nwb_digest(io.read())}))
'''


def make_hdf5(path: Path) -> None:
    """An HDF5 file with the variety reference files must carry."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        f.attrs["title"] = "interop"
        f.attrs["numbers"] = np.arange(5, dtype="<i2")
        f.attrs["ratio"] = np.float32(0.5)
        f.attrs["flags"] = np.array([True, False])
        f.attrs["names"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
        f.attrs["fixed"] = np.bytes_("fixed-length")
        g = f.create_group("data")
        g.create_dataset("chunked", data=rng.integers(-1000, 1000, (2000, 16)).astype("<i2"), chunks=(250, 16),
                         compression="gzip", shuffle=True)
        g.create_dataset("contiguous", data=rng.normal(size=(3000,)))
        g.create_dataset("scalar", data=3.25)
        g.create_dataset("text", data="a scalar string", dtype=h5py.string_dtype())
        g.create_dataset("texts", data=np.array(["one", "two", "three"], dtype=h5py.string_dtype()))
        g.create_dataset("fixed texts", data=np.array([b"ab", b"cd"], dtype="S2"))
        g.create_dataset("with nan", data=np.array([1.0, np.nan, 3.0]))
        g["chunked"].attrs["unit"] = "volts"
        g["chunked"].attrs["target"] = g["contiguous"].ref
        refs = f.create_dataset("refs", data=[g["chunked"].ref, g.ref, f.ref], dtype=h5py.ref_dtype)
        refs.attrs["kind"] = "references"
        compound = np.dtype([("id", "<i4"), ("weight", "<f8")])
        f.create_dataset("table", data=np.array([(1, 0.5), (2, 1.5), (3, -2.0)], dtype=compound))
        f["link"] = h5py.SoftLink("/data/contiguous")


def make_nwb(path: Path) -> None:
    import numpy as np
    import pynwb

    rng = np.random.default_rng(4)
    nwb = pynwb.NWBFile(session_description="interop", identifier="interop-nwb",
                        session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank", description="shank", location="CA1", device=device)
    for i in range(8):
        nwb.add_electrode(x=float(i), y=0.0, z=0.0, imp=1.0, location=f"loc{i}", filtering="none", group=group)
    region = nwb.create_electrode_table_region(list(range(8)), "all")
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb.ecephys import ElectricalSeries
    raw = rng.integers(-100, 100, size=(5000, 8), dtype=np.int16)
    nwb.add_acquisition(ElectricalSeries(name="raw", electrodes=region, rate=1000.0,
                                         data=H5DataIO(raw, chunks=(1000, 8), compression="gzip")))
    for _ in range(5):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, 5, size=20)))
    for trial in range(4):
        nwb.add_trial(start_time=float(trial), stop_time=trial + 0.5)
    module = nwb.create_processing_module(name="behavior", description="behavior")
    module.add(pynwb.TimeSeries(name="speed", data=rng.normal(size=100), unit="m/s", rate=10.0))
    from pynwb.ophys import ImageSegmentation, OpticalChannel
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="green", description="green", emission_lambda=510.0),
        description="plane", device=device, excitation_lambda=920.0, imaging_rate=30.0, indicator="GCaMP",
        location="V1")
    segmentation = ImageSegmentation()
    nwb.create_processing_module(name="ophys", description="rois").add(segmentation)
    rois = segmentation.create_plane_segmentation(name="rois", description="rois", imaging_plane=plane)
    for _ in range(3):  # pixel_mask: a compound (x, y, weight) dataset
        rois.add_roi(pixel_mask=[(int(x), int(y), 0.5) for x, y in rng.integers(0, 64, size=(4, 2))])
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "interop.json", help="results JSON path")
    parser.add_argument("--commit", metavar="REV", help="check lindi-core as committed at REV")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for one step")
    args = parser.parse_args(argv)
    core_env, revision = lindi_core_under_test(args.commit)
    lindi_python = peers.ensure_venv("lindi", quiet=True)
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)

    def core(*step: object) -> dict:
        return peers.run_json(sys.executable, "TOOL = 'lindi_core'\n" + CHILD_CODE, [str(s) for s in step],
                              env=core_env, timeout=args.timeout)

    def lindi(*step: object) -> dict:
        return peers.run_json(lindi_python, "TOOL = 'lindi'\n" + CHILD_CODE, [str(s) for s in step],
                              timeout=args.timeout)

    checks: list[dict] = []

    def check(name: str, run) -> None:
        try:
            expected, got = run()
            ok = expected == got
            detail = "equal" if ok else _first_difference(expected, got)
        except peers.PeerError as exc:
            ok, detail = False, "error: " + " | ".join(str(exc).strip().splitlines()[-3:])
        checks.append({"check": name, "ok": ok, "detail": detail})
        print(f"[{'ok' if ok else 'FAILED'}] {name}: {detail}", flush=True)

    hdf5 = WORK_DIR / "variety.h5"
    make_hdf5(hdf5)
    truth = core("hdf5-summary", hdf5)["summary"]

    def json_direction(writer, reader, name: str):
        out = WORK_DIR / f"{name}.lindi.json"
        writer("translate", hdf5, out)
        return truth, reader("summary", out)["summary"]

    check("LINDI 0.4 reads lindi-core's .lindi.json (= h5py)", lambda: json_direction(core, lindi, "by-core"))
    check("lindi-core reads LINDI 0.4's .lindi.json (= h5py)", lambda: json_direction(lindi, core, "by-lindi"))

    def tar_direction(writer, reader, name: str):
        path = WORK_DIR / f"{name}.lindi.tar"
        writer("write-tar", path)
        return writer("summary", path)["summary"], reader("summary", path)["summary"]

    check("LINDI 0.4 reads a .lindi.tar lindi-core wrote", lambda: tar_direction(core, lindi, "new-by-core"))
    check("lindi-core reads a .lindi.tar LINDI 0.4 wrote", lambda: tar_direction(lindi, core, "new-by-lindi"))

    def grown(maker, grower, name: str):
        path = WORK_DIR / f"{name}.lindi.tar"
        maker("write-tar", path)
        grower("append-tar", path)
        return grower("summary", path)["summary"], maker("summary", path)["summary"]

    check("lindi-core grows LINDI 0.4's .lindi.tar in place; LINDI reads both", lambda: grown(lindi, core, "grown-by-core"))
    check("LINDI 0.4 grows lindi-core's .lindi.tar in place; lindi-core reads both",
          lambda: grown(core, lindi, "grown-by-lindi"))

    nwb = WORK_DIR / "session.nwb"
    make_nwb(nwb)
    nwb_truth = core("pynwb-hdf5", nwb)["pynwb"]

    def nwb_read(writer, reader, name: str) -> dict:
        out = WORK_DIR / f"{name}.nwb.lindi.json"
        writer("translate", nwb, out)
        return reader("pynwb", out)["pynwb"]

    check("pynwb over lindi-core reads its own .nwb.lindi.json (= pynwb over h5py)",
          lambda: (nwb_truth, nwb_read(core, core, "nwb-core-own")))
    check("pynwb over lindi-core reads LINDI 0.4's .nwb.lindi.json (= pynwb over h5py)",
          lambda: (nwb_truth, nwb_read(lindi, core, "nwb-by-lindi")))
    # LINDI 0.4 does not read everything of its own files (pynwb's compound pixel_mask): the
    # measure of our files is that it reads them as it reads its own.
    try:
        lindi_own = nwb_read(lindi, lindi, "nwb-lindi-own")
        limits = _first_difference(nwb_truth, lindi_own) if lindi_own != nwb_truth else "none"
    except peers.PeerError as exc:
        lindi_own, limits = None, f"error: {str(exc).strip().splitlines()[-1]}"
    check("pynwb over LINDI 0.4 reads lindi-core's .nwb.lindi.json as it reads its own",
          lambda: (lindi_own, nwb_read(core, lindi, "nwb-by-core")))
    print(f"LINDI 0.4 on its own file, differences from pynwb over h5py: {limits[:300]}")

    passed = sum(c["ok"] for c in checks)
    result = {
        **result_header("interop", "interop.py", argv),
        "machine": machine_facts(),
        "lindi_core_revision": revision,
        "lindi_versions": peers.versions(lindi_python, peers.PEERS["lindi"].version_modules),
        "checks": checks,
        "lindi_own_file_differences": limits,
        "targets": [{"target": "each tool reads the other's .lindi.json and .lindi.tar (incl. grown in place), "
                               "pynwb included", "measured": f"{passed} of {len(checks)} checks passed",
                     "met": passed == len(checks)}],
    }
    lines = ["| check | result |", "| --- | --- |"]
    lines += [f"| {c['check']} | {'ok' if c['ok'] else 'FAILED: ' + c['detail'].replace('|', '/')} |" for c in checks]
    lines += ["", f"{passed} of {len(checks)} checks passed. LINDI 0.4 on its own NWB file, "
                  f"where it differs from pynwb over h5py: {limits[:300]}"]
    write_results(result, args.out, args.commit, revision, "\n".join(lines))
    return 0 if passed == len(checks) else 1


def _first_difference(expected, got, where: str = "") -> str:
    """Where two summaries first differ, briefly."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got)):
            if key not in got:
                return f"{where}/{key}: missing"
            if key not in expected:
                return f"{where}/{key}: unexpected"
            if expected[key] != got[key]:
                return _first_difference(expected[key], got[key], f"{where}/{key}")
    text = json.dumps(got)
    return f"{where}: expected {json.dumps(expected)[:200]}, got {text[:200]}"


if __name__ == "__main__":
    sys.exit(main())
