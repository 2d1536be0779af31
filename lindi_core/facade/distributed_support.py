"""Files, groups and datasets sent between ``distributed`` workers as they pickle.

``distributed`` sends h5py objects as their file name for the receiving worker to reopen with
h5py. A LINDI file's name is a reference file (or an HDF5 file translated in memory, perhaps
edited since), which h5py cannot open or would read something else from: so for the facade's
objects its h5py serializer is declined, and distributed falls back to pickling them (their
``__reduce__``: the store and its references, see :mod:`lindi_core.facade.files`).
"""

from __future__ import annotations

import sys
from typing import Any

from lindi_core.facade.base import FacadeObject


def _decline(obj: Any) -> Any:
    raise NotImplementedError(f"{type(obj).__name__} is sent pickled")  # distributed then pickles it


def register_if_loaded() -> None:
    """Decline distributed's h5py serializer for the facade's objects, if distributed is loaded
    (as it is in every worker before a task brings lindi_core in)."""
    if "distributed.protocol.serialize" not in sys.modules:
        return
    from distributed.protocol.serialize import dask_serialize

    dask_serialize.register(FacadeObject)(_decline)
