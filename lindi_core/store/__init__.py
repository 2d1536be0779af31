"""Zarr stores over reference file systems."""

from lindi_core.store.reference_store import ReferenceStore

__all__ = ["ReferenceStore"]
