"""Batch translation: many HDF5 files (a manifest, a DANDI asset listing, a list of sources)
into one reference file each, on dask.distributed, skipping what is already up to date."""

from lindi_core.batch.assets import Asset, ManifestError, load_manifest, output_path
from lindi_core.batch.run import SUMMARY_NAME, BatchSummary, Outcome, translate_many

__all__ = ["SUMMARY_NAME", "Asset", "BatchSummary", "ManifestError", "Outcome", "load_manifest", "output_path",
           "translate_many"]
