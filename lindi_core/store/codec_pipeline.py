"""zarr-python's codec pipeline, with clear errors for the chunks of reference files.

zarr decodes the chunks a store hands over with the codecs the array metadata names, and a
codec that meets bytes it cannot decode raises whatever it raises (numcodecs' shuffle a
``ValueError``, blosc a ``RuntimeError``, a codec built from an odd configuration a
``TypeError``). For a reference file those bytes are input from somewhere else, so for arrays of
a :class:`ReferenceStore` such a failure is a :class:`ChunkDecodeError` naming the array, as on
the facade's road; arrays of any other store see zarr's behaviour unchanged.

zarr chooses its pipeline class process-wide (``codec_pipeline.path``); :func:`install` selects
this one only where the setting is still zarr's default, so a user's own choice stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zarr
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.registry import register_pipeline

from lindi_core.errors import ChunkDecodeError, LindiError, UnreadableObjectError

_ZARR_DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"


class LindiCodecPipeline(BatchedCodecPipeline):
    """zarr's batched pipeline; decoding failures of reference-file chunks are ChunkDecodeErrors."""

    async def read(self, batch_info: Iterable[tuple[Any, ...]], out: Any, drop_axes: tuple[int, ...] = ()) -> None:
        batch_info = list(batch_info)
        try:
            await super().read(batch_info, out, drop_axes)
        except UnreadableObjectError as exc:  # a filter missing here: name the dataset
            paths = [byte_getter.path for byte_getter, *_ in batch_info if _reads_reference_file(byte_getter)]
            if not paths:
                raise
            raise exc.located("/" + _array_of(paths[0])) from exc.__cause__
        except (LindiError, MemoryError):
            raise
        except Exception as exc:
            paths = [byte_getter.path for byte_getter, *_ in batch_info if _reads_reference_file(byte_getter)]
            if not paths:
                raise
            array = _array_of(paths[0])
            raise ChunkDecodeError(f"array {array!r}: a chunk of {', '.join(repr(p) for p in paths[:4])}"
                                   f"{' ...' if len(paths) > 4 else ''} cannot be decoded: "
                                   f"{type(exc).__name__}: {exc}") from exc


def _array_of(chunk_path: str) -> str:
    return chunk_path.rsplit("/", 1)[0] if "/" in chunk_path else ""


def _reads_reference_file(byte_getter: Any) -> bool:
    from lindi_core.store.reference_store import ReferenceStore

    return isinstance(getattr(byte_getter, "store", None), ReferenceStore)


def install() -> None:
    """Make zarr use :class:`LindiCodecPipeline`, unless another pipeline was chosen."""
    register_pipeline(LindiCodecPipeline)
    if zarr.config.get("codec_pipeline.path") == _ZARR_DEFAULT:
        zarr.config.set({"codec_pipeline.path": f"{LindiCodecPipeline.__module__}.{LindiCodecPipeline.__qualname__}"})
