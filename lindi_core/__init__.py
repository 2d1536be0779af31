"""lindi-core: HDF5 / NWB files in the cloud through compact JSON reference file systems.

Translate an HDF5 file into a ``.lindi.json`` reference file system, then read it with h5py's
API (:class:`LindiH5pyFile`) or zarr-python 3 (:class:`ReferenceStore`), fetching only the chunks
a read touches (both through one read engine, :mod:`lindi_core.store.read_engine`).
"""

__version__ = "0.1.0"

from lindi_core import errors
from lindi_core.batch import translate_many
from lindi_core.errors import ChunkTooLargeError
from lindi_core.facade import (
    LindiH5pyAttributes,
    LindiH5pyDataset,
    LindiH5pyDatatype,
    LindiH5pyExternalLink,
    LindiH5pyFile,
    LindiH5pyGroup,
    LindiH5pyHardLink,
    LindiH5pyReference,
    LindiH5pyRegionReference,
    LindiH5pySoftLink,
)
from lindi_core.format.jsonio import load_path as load_reference_file
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem
from lindi_core.io.cache import LocalCache

# LINDI 0.4's names, for `import lindi_core as lindi` (lindi_core.lindi_compat)
from lindi_core.lindi_compat import (
    File,
    LindiH5ZarrStore,
    LindiH5ZarrStoreOpts,
    LindiRemfile,
    add_additional_url_resolver,
)
from lindi_core.store import ReferenceStore
from lindi_core.translate import ChunkOptions, translate, translate_to_file
from lindi_core.write import StagingArea, uploaders

__all__ = [
    "ChunkOptions",
    "File",
    "ChunkTooLargeError",
    "LindiH5ZarrStore",
    "LindiH5ZarrStoreOpts",
    "LindiRemfile",
    "add_additional_url_resolver",
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
    "LocalCache",
    "StagingArea",
    "uploaders",
    "ChunkRef",
    "ReferenceFileSystem",
    "ReferenceStore",
    "errors",
    "load_reference_file",
    "translate",
    "translate_to_file",
    "translate_many",
    "__version__",
]
