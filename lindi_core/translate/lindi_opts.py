"""LINDI 0.4's translation options (``LindiH5ZarrStoreOpts``), mapped onto lindi-core's.

LINDI 0.4 has two knobs. ``contiguous_dataset_max_chunk_size`` is the size of the virtual
chunks a large contiguous dataset is cut into: our ``ChunkOptions.contiguous_chunk_target``
(None: one chunk for the whole dataset). ``num_dataset_chunks_threshold``: a chunked dataset
with more chunks than this gets no chunk references at all, but an ``_EXTERNAL_ARRAY_LINK`` to
the HDF5 dataset, whose chunk index readers then consult (our store does:
:mod:`lindi_core.store.external_arrays`). LINDI 0.4 defaults to 1000; lindi-core references
every chunk unless a threshold is given, so the default here is None.

Only datasets whose chunks the HDF5 file's chunk index finds exactly as the reference file
names them are linked: HDF5-chunked, of a plain element type (an HDF5 array type adds axes the
index does not have), with every chunk referenced in place in the file translated (none stored
inline). The others keep their references, which read the same values.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from lindi_core.format import annotations as ann
from lindi_core.format.keys import join_key, split_key
from lindi_core.format.refs import ChunkRef, ReferenceFileSystem, grid_of
from lindi_core.translate.chunks import ChunkOptions

# A virtual chunk this large holds any contiguous dataset whole (LINDI's ``None``).
_WHOLE = 1 << 62


@dataclass(frozen=True)
class LindiH5ZarrStoreOpts:
    """LINDI 0.4's options of ``LindiH5ZarrStore`` (see the module docstring)."""

    num_dataset_chunks_threshold: int | None = None
    contiguous_dataset_max_chunk_size: int | None = ChunkOptions().contiguous_chunk_target

    def chunk_options(self, base: ChunkOptions | None = None) -> ChunkOptions:
        """Our translation options with these applied."""
        from dataclasses import replace

        target = self.contiguous_dataset_max_chunk_size
        if target is not None and (not isinstance(target, int) or target <= 0):
            raise ValueError(f"contiguous_dataset_max_chunk_size must be a positive int or None, got {target!r}")
        return replace(base or ChunkOptions(), contiguous_chunk_target=_WHOLE if target is None else target)


def link_many_chunk_datasets(rfs: ReferenceFileSystem, ref_url: str, threshold: int) -> list[str]:
    """Replace the chunk references of every dataset of more than ``threshold`` chunks that an
    ``_EXTERNAL_ARRAY_LINK`` to ``ref_url`` reads the same, by that link. Returns their keys."""
    if not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"num_dataset_chunks_threshold must be a non-negative int or None, got {threshold!r}")
    linked = []
    for key in [k for k in rfs.metadata if k == ".zarray" or k.endswith("/.zarray")]:
        array_path = split_key(key)[0]
        zarray = rfs.metadata[key]
        zattrs = rfs.metadata.get(join_key(array_path, ".zattrs"), {})
        grid = grid_of(zarray.get("shape"), zarray.get("chunks"))
        if grid is None or math.prod(grid) <= threshold or not _linkable(rfs, array_path, zattrs, ref_url):
            continue
        for name, _ref in list(rfs.chunk_refs(array_path)):
            rfs.delete(join_key(array_path, name))
        rfs.set_metadata(join_key(array_path, ".zattrs"), {
            **zattrs, ann.EXTERNAL_ARRAY_LINK: {"link_type": "hdf5_dataset", "url": ref_url, "name": array_path}})
        linked.append(array_path)
    return linked


def _linkable(rfs: ReferenceFileSystem, array_path: str, zattrs: dict, ref_url: str) -> bool:
    if ann.HDF5_CHUNKS in zattrs:  # not HDF5-chunked (virtual chunks of a contiguous dataset)
        return False
    if any(k in zattrs for k in (ann.HDF5_DTYPE, ann.COMPOUND_DTYPE, ann.UNREADABLE, ann.EXTERNAL_ARRAY_LINK,
                                 ann.SCALAR, ann.NULL_DATASPACE)):
        return False
    prefix = array_path + "/" if array_path else ""
    if any(split_key(k)[0] == array_path for k in rfs.inline if k.startswith(prefix)):
        return False  # some chunks were read into the reference file (small, or converted values)
    return all(isinstance(ref, ChunkRef) and ref.url == ref_url for _name, ref in rfs.chunk_refs(array_path))


def translate_with_opts(source: str | os.PathLike, opts: LindiH5ZarrStoreOpts | None, *,
                        ref_url: str | None = None, options: ChunkOptions | None = None,
                        **translate_kwargs: Any) -> ReferenceFileSystem:
    """:func:`~lindi_core.translate.translate` with LINDI 0.4's options applied."""
    from lindi_core.io.locations import is_url
    from lindi_core.translate.translator import translate

    opts = opts or LindiH5ZarrStoreOpts()
    rfs = translate(source, ref_url=ref_url, options=opts.chunk_options(options), **translate_kwargs)
    if opts.num_dataset_chunks_threshold is not None:
        source_text = os.fspath(source)
        named = ref_url or (source_text if is_url(source_text)
                            else os.path.abspath(source_text))
        link_many_chunk_datasets(rfs, named, opts.num_dataset_chunks_threshold)
    return rfs
