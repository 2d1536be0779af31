"""hdmf's ``StrDataset`` wrapper over our datasets.

hdmf hands string datasets to users wrapped in ``hdmf.utils.StrDataset``, a subclass of
``h5py.Dataset`` that forwards only the attributes h5py does *not* define (``__getattr__``).
So ``wrapper.name``, ``.file``, ``.parent``, ``.attrs``, ``.ref``, ``.dims`` run h5py's own
property code on the wrapper, which calls libhdf5 with the wrapped dataset's ``id``; that
works for h5py's datasets and fails for ours, which have no libhdf5 object behind them.

The fix is for the wrapper to ask the wrapped dataset, which is what h5py's code computes for
an h5py dataset anyway (the wrapper's ``id`` *is* the wrapped dataset's): identical results for
h5py datasets, working ones for ours. hdmf offers no hook for this, so the properties are added
to its class once, when ``hdmf.utils`` is imported (now, if it already is).
"""

from __future__ import annotations

import importlib.abc
import sys
from types import ModuleType

HDMF_UTILS = "hdmf.utils"
# Metadata properties of h5py.Dataset and its base class that read through ``self.id``. Not the
# reading methods (``__array__``, ``asstr``, ``astype``, ...): for those the wrapper's own
# decoding must stay in charge.
DELEGATED_PROPERTIES = (
    "name", "file", "parent", "ref", "regionref", "attrs", "dims", "shape", "dtype", "size", "nbytes",
    "ndim", "chunks", "maxshape", "fillvalue", "compression", "compression_opts", "shuffle", "fletcher32",
    "scaleoffset", "external", "is_virtual", "is_scale",
)
_MARK = "_lindi_core_delegates_to_dset"


def _delegating_property(name: str) -> property:
    def get(self):
        return getattr(self.dset, name)

    return property(get, doc=f"``{name}`` of the wrapped dataset.")


def patch_str_dataset(module: ModuleType) -> None:
    """Give ``module.StrDataset`` properties that ask the wrapped dataset."""
    cls = getattr(module, "StrDataset", None)
    if cls is None or getattr(cls, _MARK, False):
        return
    for name in DELEGATED_PROPERTIES:
        if name not in cls.__dict__:  # anything hdmf defines itself stays as it is
            setattr(cls, name, _delegating_property(name))
    setattr(cls, _MARK, True)


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when ``hdmf.utils`` is about to be loaded, wraps its loader so the
    patch runs right after the module's code, then steps out of the import system."""

    def find_spec(self, fullname, path, target=None):
        if fullname != HDMF_UTILS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                _wrap_loader(spec.loader)
                self.remove()
                return spec
        return None

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def _wrap_loader(loader) -> None:
    run_module_code = loader.exec_module

    def exec_module(module: ModuleType) -> None:
        run_module_code(module)
        patch_str_dataset(module)

    loader.exec_module = exec_module


def install() -> None:
    """Patch now if hdmf is loaded, else as soon as it is."""
    module = sys.modules.get(HDMF_UTILS)
    if module is not None:
        patch_str_dataset(module)
    elif not any(isinstance(finder, _PatchAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport())
