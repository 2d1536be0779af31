"""HDF5 -> reference file system translation."""

from lindi_core.translate.chunks import ChunkOptions
from lindi_core.translate.translator import translate, translate_to_file

__all__ = ["ChunkOptions", "translate", "translate_to_file"]
