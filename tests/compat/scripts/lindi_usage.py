"""One script in LINDI 0.4's API, run by the test under LINDI 0.4 and under lindi-core.

Usage: python lindi_usage.py MODULE H5_PATH URL WORK_DIR. Imports MODULE as ``lindi``, uses
it on the HDF5 file at H5_PATH (served at URL), and prints what it found as one JSON line.
"""

import importlib
import json
import os
import sys

import h5py

lindi = importlib.import_module(sys.argv[1])
path, url, work = sys.argv[2:5]
out = {}


def zattrs_of(refs, key):
    value = refs.get(key, {})
    return json.loads(value) if isinstance(value, str) else value


opts = lindi.LindiH5ZarrStoreOpts(num_dataset_chunks_threshold=4, contiguous_dataset_max_chunk_size=10_000)
with lindi.LindiH5ZarrStore.from_file(path, url=path, opts=opts) as store:
    out["listdir"] = sorted(store.listdir("")), sorted(store.listdir("group1")), store.listdir("group1/group2")
    keys = [".zattrs", ".zgroup", "dataset1", "dataset1/.zattrs", "dataset1/.zarray", "dataset1/.zgroup",
            "group1", "group1/.zattrs", "group1/.zgroup", "group1/.zarray", "group1/dataset2/0", "few/0"]
    out["contains"] = {key: key in store for key in keys}
    out["zarray"] = json.loads(store["gz/.zarray"])["chunks"]
    rfs = store.to_reference_file_system()
    refs = rfs["refs"]
    out["linked"] = sorted(key.split("/")[0] for key in refs
                           if key.endswith("/.zattrs") and "_EXTERNAL_ARRAY_LINK" in zattrs_of(refs, key))
    out["link"] = zattrs_of(refs, "dataset1/.zattrs")["_EXTERNAL_ARRAY_LINK"]
    client = lindi.LindiH5pyFile.from_reference_file_system(rfs)
    out["values"] = {name: client[name][()].tolist() for name in ("dataset1", "gz", "few", "group1/dataset2")}
    out["contiguous"] = client["contiguous"][17:23, 5:9].tolist()
    out["attrs"] = {key: client.attrs[key] for key in client.attrs}
    client.close()
    store_client = lindi.LindiH5pyFile.from_zarr_store(store)
    out["from_zarr_store"] = store_client["group1/dataset2"][:].tolist()

f = lindi.LindiH5pyFile.from_hdf5_file(url)
out["remote"] = {name: f[name][()].tolist() for name in ("gz", "few")}
lindi_json = os.path.join(work, "x.lindi.json")
f.write_lindi_file(lindi_json, generation_metadata={"generatedBy": "a script", "n": 1})
f.close()
with open(lindi_json) as written:
    out["generation_metadata"] = json.load(written)["generationMetadata"]
g = lindi.LindiH5pyFile.from_lindi_file(lindi_json)
out["reread"] = g["gz"][5:9].tolist()
g.close()
local_f = lindi.LindiH5pyFile.from_hdf5_file(path, url=url)
local_rfs = local_f.to_reference_file_system()


def expanded(target):
    for name, value in local_rfs.get("templates", {}).items():
        target = target.replace("{{" + name + "}}", value)
    return target


out["url_named"] = sorted({expanded(value[0]) for value in local_rfs["refs"].values() if isinstance(value, list)})
local_f.close()

cache = lindi.LocalCache(cache_dir=os.path.join(work, "cache"))
cache.put_remote_chunk(url="u", offset=3, size=3, data=b"abc")
out["cache"] = [cache.get_remote_chunk(url="u", offset=3, size=3).decode(), cache.get_remote_chunk(url="u", offset=0, size=3)]
try:
    cache.put_remote_chunk(url="u", offset=0, size=4, data=b"abc")
except ValueError:
    out["size_mismatch"] = "ValueError"
out["chunk_too_large_is_exception"] = issubclass(lindi.ChunkTooLargeError, Exception)

# LINDI 0.4 has the class in a module (from lindi.LindiRemfile.LindiRemfile import LindiRemfile);
# lindi_core exports it as lindi.LindiRemfile
if isinstance(lindi.LindiRemfile, type):
    LindiRemfile = lindi.LindiRemfile
else:
    LindiRemfile = importlib.import_module(sys.argv[1] + ".LindiRemfile.LindiRemfile").LindiRemfile
remote = LindiRemfile(url, local_cache=cache)
with h5py.File(remote, "r") as h5:
    out["remfile"] = h5["gz"][10:20].tolist()
out["remfile_length"] = remote.length
remote.close()
# (attribute numbers: h5py, and lindi_core, give NumPy scalars; LINDI 0.4 Python ones)
print(json.dumps(out, sort_keys=True, default=lambda value: value.item()))
