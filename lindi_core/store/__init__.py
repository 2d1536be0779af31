"""Zarr stores over reference file systems."""

from lindi_core.store import codec_pipeline
from lindi_core.store.reference_store import ReferenceStore

codec_pipeline.install()

__all__ = ["ReferenceStore"]
