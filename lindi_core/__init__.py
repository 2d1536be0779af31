"""lindi-core: HDF5 / NWB files in the cloud through compact JSON reference file systems.

Translate an HDF5 file into a ``.lindi.json`` reference file system, then read it with h5py's
API (:class:`LindiH5pyFile`) or zarr-python 3 (:class:`ReferenceStore`), fetching only the chunks
a read touches (both through one read engine, :mod:`lindi_core.store.read_engine`).

The names below are imported when first used (PEP 562), not with the package: zarr, h5py, numpy
and aiohttp take most of a second to import, which every ``lindi-core --help`` and every
``import lindi_core.errors`` would otherwise pay. ``from lindi_core import X``, ``lindi_core.X``
and ``import lindi_core as lindi`` (LINDI 0.4's names, :mod:`lindi_core.lindi_compat`) all work
as before.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module defining it, its name there)
_EXPORTS: dict[str, tuple[str, str]] = {
    "ChunkOptions": ("lindi_core.translate.chunks", "ChunkOptions"),
    "translate": ("lindi_core.translate.translator", "translate"),
    "translate_to_file": ("lindi_core.translate.translator", "translate_to_file"),
    "translate_many": ("lindi_core.batch", "translate_many"),
    "ChunkTooLargeError": ("lindi_core.errors", "ChunkTooLargeError"),
    "load_reference_file": ("lindi_core.format.jsonio", "load_path"),
    "ChunkRef": ("lindi_core.format.refs", "ChunkRef"),
    "ReferenceFileSystem": ("lindi_core.format.refs", "ReferenceFileSystem"),
    "LocalCache": ("lindi_core.io.cache", "LocalCache"),
    "ReferenceStore": ("lindi_core.store", "ReferenceStore"),
    "StagingArea": ("lindi_core.write.staging", "StagingArea"),
    "uploaders": ("lindi_core.write", "uploaders"),
    **{name: ("lindi_core.facade", name) for name in (
        "LindiH5pyAttributes", "LindiH5pyDataset", "LindiH5pyDatatype", "LindiH5pyExternalLink", "LindiH5pyFile",
        "LindiH5pyGroup", "LindiH5pyHardLink", "LindiH5pyReference", "LindiH5pyRegionReference",
        "LindiH5pySoftLink")},
    # LINDI 0.4's names, for `import lindi_core as lindi` (every name of lindi_compat.__all__)
    **{name: ("lindi_core.lindi_compat", name) for name in (
        "File", "LindiH5ZarrStore", "LindiH5ZarrStoreOpts", "LindiRemfile", "add_additional_url_resolver")},
}

# Subpackages reachable as attributes (``lindi_core.format.refs...``) without importing them first.
_SUBMODULES = frozenset({"batch", "cli", "codecs", "errors", "facade", "format", "hdf5", "io", "lindi_compat",
                         "samples", "store", "testing", "translate", "write"})

__all__ = [  # every name of _EXPORTS (a test checks that they agree)
    "ChunkOptions", "ChunkRef", "ChunkTooLargeError", "File", "LindiH5ZarrStore", "LindiH5ZarrStoreOpts",
    "LindiH5pyAttributes", "LindiH5pyDataset", "LindiH5pyDatatype", "LindiH5pyExternalLink", "LindiH5pyFile",
    "LindiH5pyGroup", "LindiH5pyHardLink", "LindiH5pyReference", "LindiH5pyRegionReference", "LindiH5pySoftLink",
    "LindiRemfile", "LocalCache", "ReferenceFileSystem", "ReferenceStore", "StagingArea", "__version__",
    "add_additional_url_resolver", "errors", "load_reference_file", "translate", "translate_many",
    "translate_to_file", "uploaders",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module_name, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(module_name), attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # found once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


class _Package(types.ModuleType):
    """``lindi_core.translate`` is the function, although a subpackage has the same name.

    Importing a submodule binds it as an attribute of its package, so the first
    ``import lindi_core.translate.chunks`` (done by the CLI, by ``from lindi_core.translate
    import ...``) would replace the function with the subpackage. A property on the module's
    class outranks the module's namespace and ignores that binding; the subpackage stays in
    ``sys.modules`` for every import statement, which does not look at this attribute."""

    @property
    def translate(self):
        bound = self.__dict__.get("translate")
        if bound is not None and not isinstance(bound, types.ModuleType):  # set by the user (a test's mock)
            return bound
        from lindi_core.translate.translator import translate

        return translate

    @translate.setter
    def translate(self, value: Any) -> None:
        self.__dict__["translate"] = value


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # what the names are, for type checkers and IDEs
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
