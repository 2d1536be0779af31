"""Translate many files on a dask.distributed cluster, one file per task, resumably.

Each task translates one asset with :func:`lindi_core.translate.translate_to_file` (its
output written atomically: a crash never leaves a half-written file under the final name),
after checking whether the output already there was made from the source's current version
(:mod:`lindi_core.batch.versions`): then it is skipped. A re-run therefore finishes exactly
what is missing, failed or out of date. A task never raises: a missing, refused or corrupt
asset comes back as failed with its reason while the others go on; transient network errors
are retried inside the HTTP layer, not by re-running the file.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lindi_core.batch.assets import Asset, ManifestError, assets_from_sources, load_manifest, output_path
from lindi_core.batch.versions import (
    SOURCE_VERSION,
    TRANSLATION_OPTIONS,
    recorded_metadata,
    same_version,
    source_version,
)
from lindi_core.errors import LindiError
from lindi_core.translate.chunks import ChunkOptions

SUMMARY_NAME = "translate-many-summary.json"
DONE, SKIPPED, FAILED, TO_DO = "done", "skipped", "failed", "to do"


@dataclass(frozen=True)
class Outcome:
    """What became of one asset."""

    name: str
    source: str
    output: str | None
    status: str  # done, skipped, failed (or "to do" in a dry run)
    reason: str = ""
    seconds: float = 0.0


@dataclass
class BatchSummary:
    """The outcome of every asset of a batch, in the order they finished."""

    outdir: str
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False

    def with_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def done(self) -> list[Outcome]:
        return self.with_status(DONE)

    @property
    def skipped(self) -> list[Outcome]:
        return self.with_status(SKIPPED)

    @property
    def failed(self) -> list[Outcome]:
        return self.with_status(FAILED)

    def to_json(self) -> dict[str, Any]:
        by_name = sorted(self.outcomes, key=lambda o: o.name)
        return {"outdir": self.outdir, "dryRun": self.dry_run,
                "counts": {s: len(self.with_status(s)) for s in (DONE, SKIPPED, FAILED, TO_DO)},
                "assets": [dataclasses.asdict(o) for o in by_name]}

    def table(self) -> str:
        """A plain-text table: one line per asset, failures with their reason, then the counts."""
        rows = sorted(self.outcomes, key=lambda o: (o.status != FAILED, o.name))
        width = max([len(o.status) for o in rows] + [6])
        lines = [f"{o.status:<{width}}  {o.name}" + (f"  ({o.reason})" if o.reason else "") for o in rows]
        counts = ", ".join(f"{len(self.with_status(s))} {s}" for s in (DONE, SKIPPED, FAILED, TO_DO)
                           if self.with_status(s) or s != TO_DO)
        return "\n".join(lines + [counts])


@dataclass(frozen=True)
class TaskSettings:
    """What every task needs beside its asset (sent to the workers)."""

    options: ChunkOptions
    timeout: float | None


def check_asset(asset: Asset, output: str, settings: TaskSettings) -> tuple[str, dict[str, Any] | str]:
    """(SKIPPED, version) when ``output`` was made from the source as it is now with the same
    options; (TO_DO, version) when it must be translated; (FAILED, reason) when the source
    cannot be reached."""
    try:
        current = source_version(asset.source, settings.timeout)
    except (LindiError, OSError) as exc:
        return FAILED, f"{type(exc).__name__}: {exc}"
    recorded = recorded_metadata(output) if os.path.exists(output) else None
    if (recorded is not None and same_version(recorded.get(SOURCE_VERSION), current)
            and recorded.get(TRANSLATION_OPTIONS) == dataclasses.asdict(settings.options)):
        return SKIPPED, current
    return TO_DO, current


def process_asset(asset: Asset, output: str, settings: TaskSettings) -> Outcome:
    """Translate one asset unless its output is up to date; never raises (runs on a worker)."""
    from lindi_core.translate import translate_to_file

    started = time.perf_counter()

    def outcome(status: str, reason: str = "") -> Outcome:
        return Outcome(asset.name, asset.source, output, status, reason, round(time.perf_counter() - started, 3))

    try:
        status, found = check_asset(asset, output, settings)
        if status != TO_DO:
            return outcome(status, found if isinstance(found, str) else "up to date")
        os.makedirs(os.path.dirname(output), exist_ok=True)
        translate_to_file(asset.source, output, options=settings.options, timeout=settings.timeout, progress=False,
                          generation_metadata={SOURCE_VERSION: found,
                                               TRANSLATION_OPTIONS: dataclasses.asdict(settings.options)})
        after = source_version(asset.source, settings.timeout)
        if not same_version(found, after):
            # Its bytes may mix two versions: never leave it where a re-run would trust it.
            os.remove(output)
            return outcome(FAILED, "the source changed while it was translated; run again")
        return outcome(DONE)
    except Exception as exc:  # any failure of this one file is its outcome, not the batch's
        return outcome(FAILED, f"{type(exc).__name__}: {exc}")


def resolve_assets(sources_or_manifest: str | os.PathLike | Iterable[str | os.PathLike | Asset],
                   timeout: float | None = None) -> list[Asset]:
    """A str/PathLike is a manifest or DANDI listing (file or URL); an iterable, the sources."""
    if isinstance(sources_or_manifest, (str, os.PathLike)):
        return load_manifest(sources_or_manifest, timeout)
    items = list(sources_or_manifest)
    return [a for a in items if isinstance(a, Asset)] + assets_from_sources(
        [s for s in items if not isinstance(s, Asset)])


def plan_outputs(assets: list[Asset], outdir: str) -> tuple[list[tuple[Asset, str]], list[Outcome]]:
    """(assets with their output paths, failures of those whose name is refused or taken)."""
    planned, refused, taken = [], [], {}
    for asset in assets:
        try:
            path = output_path(outdir, asset.name)
        except ManifestError as exc:
            refused.append(Outcome(asset.name, asset.source, None, FAILED, str(exc)))
            continue
        if path in taken:
            refused.append(Outcome(asset.name, asset.source, None, FAILED,
                                   f"its output {path} is also the output of {taken[path]}"))
            continue
        taken[path] = asset.source
        planned.append((asset, path))
    return planned, refused


def translate_many(sources_or_manifest: str | os.PathLike | Iterable[str | os.PathLike | Asset],
                   outdir: str | os.PathLike, *, workers: int | None = None, scheduler: str | None = None,
                   dry_run: bool = False, options: ChunkOptions | None = None, timeout: float | None = None,
                   progress: bool | None = None) -> BatchSummary:
    """Translate many HDF5 files into ``outdir``, one reference file per asset, on dask.distributed.

    ``sources_or_manifest``: a manifest or DANDI asset listing (path or URL), or the sources
    themselves. ``scheduler``: the address of a running dask scheduler; else a LocalCluster of
    ``workers`` processes (default: the CPU count), one thread each, started and stopped here.
    Assets whose output is up to date are skipped; ``dry_run`` only reports which would be
    translated (no cluster). Writes ``outdir/translate-many-summary.json`` and returns it.
    """
    outdir = os.path.realpath(outdir)
    settings = TaskSettings(options or ChunkOptions(), timeout)
    planned, refused = plan_outputs(resolve_assets(sources_or_manifest, timeout), outdir)
    summary = BatchSummary(outdir, list(refused), dry_run)
    show = sys.stderr.isatty() if progress is None else progress
    if dry_run:
        summary.outcomes += _dry_run(planned, settings)
        return summary
    os.makedirs(outdir, exist_ok=True)
    from tqdm import tqdm

    with tqdm(total=len(planned), disable=not show, unit="file", desc="translating") as bar:
        for outcome in _run_on_cluster(planned, settings, workers, scheduler):
            summary.outcomes.append(outcome)
            bar.update(1)
    _write_summary(summary)
    return summary


def _dry_run(planned: list[tuple[Asset, str]], settings: TaskSettings) -> list[Outcome]:
    def check(item: tuple[Asset, str]) -> Outcome:
        asset, output = item
        status, found = check_asset(asset, output, settings)
        reason = found if isinstance(found, str) else ("up to date" if status == SKIPPED else "")
        return Outcome(asset.name, asset.source, output, status, reason)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(check, planned))


def _run_on_cluster(planned: list[tuple[Asset, str]], settings: TaskSettings, workers: int | None,
                    scheduler: str | None) -> Iterator[Outcome]:
    """Outcomes as the tasks finish; a task lost with its worker comes back failed."""
    if not planned:
        return
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    try:
        with Client(scheduler or cluster) as client:
            futures = {}
            for asset, output in planned:
                future = client.submit(process_asset, asset, output, settings, pure=False,
                                       key=f"translate-{asset.name}-{os.urandom(4).hex()}")
                futures[future] = (asset, output)
            for future in as_completed(futures):
                asset, output = futures[future]
                try:
                    yield future.result()
                except Exception as exc:  # the worker died under it (killed, out of memory)
                    yield Outcome(asset.name, asset.source, output, FAILED, f"{type(exc).__name__}: {exc}")
    finally:
        if cluster is not None:
            cluster.close()


def _write_summary(summary: BatchSummary) -> None:
    import orjson

    from lindi_core.format.temporaries import atomic_output

    with atomic_output(os.path.join(summary.outdir, SUMMARY_NAME), ".json") as f:
        f.write(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2))
