"""The h5py-compatible facade: pynwb and any h5py code read translated files unchanged.

One module per HDF5 concept, as in h5py: ``files``, ``group`` (and ``group_writes``),
``dataset`` (and ``dataset_creation``), ``attrs``, ``datatype`` (committed datatypes),
``selections`` (indexing rules), ``references``, ``dtypes``. Under them, as h5py's low-level
ids are under its high-level classes, ``lowlevel.FileHandle``: what an open file is (its
reference file system, tree, paths, links, objects, attributes), which every facade object
reaches through its ``handle``; ``hierarchy`` indexes the tree for it.
"""

from lindi_core.facade import distributed_support, hdmf_compat
from lindi_core.facade.attrs import LindiH5pyAttributes
from lindi_core.facade.dataset import LindiH5pyDataset
from lindi_core.facade.datatype import LindiH5pyDatatype
from lindi_core.facade.files import LindiH5pyFile
from lindi_core.facade.group import (
    LindiH5pyExternalLink,
    LindiH5pyGroup,
    LindiH5pyHardLink,
    LindiH5pySoftLink,
)
from lindi_core.facade.references import LindiH5pyReference, LindiH5pyRegionReference

hdmf_compat.install()
distributed_support.register_if_loaded()

__all__ = [
    "LindiH5pyAttributes",
    "LindiH5pyDataset",
    "LindiH5pyDatatype",
    "LindiH5pyExternalLink",
    "LindiH5pyFile",
    "LindiH5pyGroup",
    "LindiH5pyHardLink",
    "LindiH5pyReference",
    "LindiH5pyRegionReference",
    "LindiH5pySoftLink",
]
