"""Which arrays a reference file saved after editing writes as binary chunk tables (spec §13).

Translation decides each array's form once, by :func:`chunk_table_forms.choose_binary`
(``auto``: a table for arrays of at least a threshold of chunks). A file opened for writing then
gains arrays (``create_dataset``, copies), and its arrays grow or shrink (``resize``); each save
(``flush``, ``close``, ``write_lindi_file``) settles the forms again here, by the same function,
so that an edited file is written as translating its content would write it:

* with an explicit choice (``chunk_table="auto"|"json"|"binary"`` when opening), every array is
  decided by that rule at every save, as translation decides (also a way to convert a file);
* without one (the default), an array keeps the form it was opened with, so that opening a file
  and saving it never changes how its untouched arrays are written (a file written ``json`` for
  LINDI 0.4 stays readable by it; one written ``binary`` keeps its small tables). Only arrays the
  edits made new, and arrays whose chunk count crossed the threshold (grew to it, or shrank
  below it), are decided by ``auto``, as translation would decide them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lindi_core.format import chunk_table_forms
from lindi_core.format.refs import ReferenceFileSystem


@dataclass(frozen=True)
class TableForms:
    """How the saves of one open file decide the arrays' forms: ``choice`` (None: keep each
    array's form, ``auto`` for new arrays and those crossing ``threshold``). The chunk grid each
    array had when its form was last settled is ``rfs.settled_grids`` (the facade's deletes
    forget an array's, its moves carry it along)."""

    choice: str | None = None
    threshold: int = chunk_table_forms.AUTO_THRESHOLD

    def __post_init__(self) -> None:
        if self.choice is not None and self.choice not in chunk_table_forms.CHUNK_TABLE_CHOICES:
            raise ValueError(f"chunk_table must be one of {chunk_table_forms.CHUNK_TABLE_CHOICES}, "
                             f"not {self.choice!r}")
        if type(self.threshold) is not int or self.threshold < 1:
            raise ValueError(f"chunk_table_threshold must be a positive integer, not {self.threshold!r}")

    @classmethod
    def opened(cls, rfs: ReferenceFileSystem, choice: str | None = None,
               threshold: int | None = None) -> TableForms:
        """The forms of a file as opened: every array's form is settled for its current grid."""
        rfs.settled_grids = _grids(rfs)
        return cls(choice, chunk_table_forms.AUTO_THRESHOLD if threshold is None else threshold)

    def settle(self, rfs: ReferenceFileSystem) -> None:
        """Set ``rfs.binary_tables`` to the arrays the next write keeps as binary tables."""
        kept = set(rfs.binary_tables)
        chunk_table_forms.choose_binary(rfs, self.choice or "auto", self.threshold)
        if self.choice is None:
            decided = rfs.binary_tables
            for array_path, table in rfs.tables.items():
                grid = rfs.settled_grids.get(array_path)
                if grid is None or self._crossed(math.prod(grid), table.size):
                    continue  # new, or across the threshold: auto decided it
                if array_path in kept and chunk_table_forms.encodable(rfs, array_path):
                    decided.add(array_path)
                else:
                    decided.discard(array_path)
        rfs.settled_grids = _grids(rfs)

    def _crossed(self, old_chunks: int, new_chunks: int) -> bool:
        return (old_chunks >= self.threshold) != (new_chunks >= self.threshold)


def _grids(rfs: ReferenceFileSystem) -> dict[str, tuple[int, ...]]:
    return {array_path: table.grid_shape for array_path, table in rfs.tables.items()}
