"""Add a processed dataset to a remote file through a staging area, upload only its new bytes,
and save a sidecar that reads both.

    python examples/add_processed_dataset.py [URL] --upload-to FOLDER_OR_FSSPEC_URL [--url-prefix URL]
                                             [-o OUTPUT] [--rows N]

URL is a reference file (``.nwb.lindi.json``) or an NWB / HDF5 file (translated in memory). The
script reads rows of the largest dataset, computes their mean over channels and writes it as
``analysis/channel_mean``: its chunks go to a staging area (a local folder), not into the JSON.
``upload()`` packs them into content-named blobs, uploads them to ``--upload-to`` (a folder, or
any fsspec URL such as ``s3://bucket/prefix``) and points the references at the uploaded copies,
named ``--url-prefix/<blob>`` when given. The new sidecar refers to the original file for the
original data and to the blobs for the new dataset: only the new bytes were uploaded. Without a
URL it serves lindi-core's sample NWB file and its sidecar on 127.0.0.1, uploads into a folder
that server serves, and reads the new dataset back over HTTP.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from urllib.parse import urlparse

import numpy as np

import lindi_core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_support import is_reference_file, largest_dataset, print_references, served_sample  # noqa: E402

NEW_DATASET = "analysis/channel_mean"


def uploader_for(upload_to: str, url_prefix: str | None):
    """A folder gets a DirectoryUploader, any other URL (s3://, gs://, memory://...) an FsspecUploader."""
    if "://" in upload_to and not upload_to.startswith("file://"):
        return lindi_core.uploaders.FsspecUploader(upload_to, read_url_prefix=url_prefix)
    return lindi_core.uploaders.DirectoryUploader(upload_to.removeprefix("file://"), url_prefix=url_prefix)


def main(url_or_path: str | None = None, upload_to: str | None = None, url_prefix: str | None = None,
         output: str | None = None, rows: int = 100_000) -> dict:
    """Add ``analysis/channel_mean`` to ``url_or_path``, upload its chunks to ``upload_to`` and
    write the sidecar ``output`` (default: NAME.processed.lindi.json here). Returns the values
    written, the upload report and the new sidecar's references."""
    if url_or_path is None:
        with served_sample(sidecar=True) as sample, tempfile.TemporaryDirectory() as folder:
            served = os.path.dirname(sample.path)
            return main(sample.url, upload_to or os.path.join(served, "uploads"),
                        url_prefix or (None if upload_to else sample.server.url_for("uploads")),
                        output or os.path.join(folder, "sample.processed.nwb.lindi.json"), rows)
    if upload_to is None:
        raise SystemExit("--upload-to is needed with a URL: a folder or an fsspec URL to upload the new chunks to")
    if output is None:
        name = os.path.basename(urlparse(url_or_path).path)
        for suffix in (".lindi.json", ".lindi.tar", ".nwb", ".h5", ".hdf5"):
            name = name.removesuffix(suffix)
        output = f"{name}.processed.lindi.json"

    with tempfile.TemporaryDirectory(prefix="lindi-core-staging-") as staging_dir:
        staging = lindi_core.StagingArea.create(base_dir=staging_dir)
        if is_reference_file(url_or_path) and "://" not in url_or_path:
            # A local reference file open for writing is written back on close, as h5py writes an
            # HDF5 file: edit a copy named as the new sidecar, so that the original stays as it was.
            if not url_or_path.endswith(".lindi.json"):
                raise SystemExit(f"{url_or_path}: a local container is edited in place; give a .lindi.json")
            if not os.path.exists(output) or not os.path.samefile(url_or_path, output):
                shutil.copyfile(url_or_path, output)
            f = lindi_core.LindiH5pyFile.from_lindi_file(output, mode="r+", staging_area=staging)
        elif is_reference_file(url_or_path):  # at a URL: edited in memory, never written back
            f = lindi_core.LindiH5pyFile.from_lindi_file(url_or_path, mode="r+", staging_area=staging)
        else:
            f = lindi_core.LindiH5pyFile.from_hdf5_file(url_or_path, mode="r+", staging_area=staging)
        with f:
            source = largest_dataset(f)
            data = f[source][:rows]
            mean = data.reshape(len(data), -1).mean(axis=1).astype(np.float32)
            new = f.create_dataset(NEW_DATASET, data=mean, chunks=(min(len(mean), 10_000),), compression="gzip")
            new.attrs["description"] = f"mean over channels of {source}[:{len(data)}]"
            staged = sum(len(files) for _, _, files in os.walk(os.path.join(staging.directory, "chunks")))
            print(f"computed {NEW_DATASET} {mean.shape} {mean.dtype} from {source}[:{len(data)}]; "
                  f"{staged} chunk(s) staged in {staging.directory}")
            report = f.upload(uploader_for(upload_to, url_prefix))
            if f.filename != output:
                f.write_lindi_file(output)
    print(f"uploaded {report.chunks} chunk(s) as {report.blobs} blob(s), {report.bytes:,} bytes, to {upload_to}")
    rfs = lindi_core.load_reference_file(output)
    print(f"wrote {output} ({os.path.getsize(output):,} bytes); its chunk references:")
    print_references(rfs)

    with lindi_core.LindiH5pyFile.from_lindi_file(output) as f:
        read_back = f[NEW_DATASET][()]
        same = np.array_equal(read_back, mean)
        print(f"read back through the new sidecar: {NEW_DATASET}[:5] {np.array2string(read_back[:5], precision=3)}, "
              f"identical to the values computed: {same}")
    return {"output": output, "source": source, "values": mean, "read_back": read_back, "report": report,
            "rfs": rfs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="URL (or path) of a .nwb.lindi.json, or of an NWB / HDF5 file")
    parser.add_argument("--upload-to", help="folder or fsspec URL (s3://bucket/prefix) the new chunks go to")
    parser.add_argument("--url-prefix", help="the URL the uploaded blobs are read from (default: where they go)")
    parser.add_argument("-o", "--output", help="the new sidecar (default: NAME.processed.lindi.json here)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the source to average (default 100000)")
    args = parser.parse_args()
    main(args.url, args.upload_to, args.url_prefix, args.output, args.rows)
