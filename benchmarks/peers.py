"""Virtual environments for the peer tools the benchmarks compare against.

Each peer gets its own venv under ``benchmarks/.cache/venvs/<name>`` (git-ignored), because
their pins clash with lindi-core's (LINDI 0.4 pins ``zarr<3``). Creating one is idempotent: a
venv that exists and whose check import works is reused as it is.

Code runs in a venv as a subprocess that prints one JSON line (the last line of its stdout
starting with ``{``); :func:`run_json` runs it and parses that line.

    python benchmarks/peers.py            # create (or check) every peer venv, print versions
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv  # noqa: F401  (python3 -m venv must exist)
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"
VENV_ROOT = CACHE_DIR / "venvs"


@dataclass(frozen=True)
class Peer:
    name: str
    requirements: tuple[str, ...]
    check: str  # Python code that must run without error in a ready venv
    version_modules: tuple[str, ...]  # distributions whose versions are reported


PEERS: dict[str, Peer] = {
    # pynwb (same version as the machine Python's) for open_bench.py; the translation
    # benchmark does not import it.
    "lindi": Peer(
        "lindi",
        ("lindi==0.4.6", "h5py", "pynwb==4.2.0"),
        "import lindi, h5py, zarr, pynwb; lindi.LindiH5ZarrStore; lindi.LindiH5ZarrStoreOpts",
        ("lindi", "h5py", "zarr", "numcodecs", "numpy", "pynwb", "hdmf"),
    ),
    # aiohttp: fsspec's HTTP filesystem, for reading kerchunk references over HTTP (read_bench.py);
    # pandas + fastparquet: kerchunk's Parquet references (kerchunk.df.refs_to_dataframe, read back by
    # fsspec's LazyReferenceMapper, whose default engine is fastparquet) for scale_bench.py
    "kerchunk": Peer(
        "kerchunk",
        ("kerchunk", "h5py", "aiohttp", "pandas", "fastparquet"),
        "import kerchunk.hdf, kerchunk.df, h5py, aiohttp, pandas, fastparquet; kerchunk.hdf.SingleHdf5ToZarr; "
        "kerchunk.df.refs_to_dataframe",
        ("kerchunk", "h5py", "zarr", "numcodecs", "numpy", "fsspec", "aiohttp", "pandas", "fastparquet"),
    ),
    # h5py reading a remote file through remfile's file-like object (open_bench.py)
    "remfile": Peer(
        "remfile",
        ("remfile", "h5py", "pynwb==4.2.0"),
        "import remfile, h5py, pynwb; remfile.File",
        ("remfile", "h5py", "pynwb", "hdmf", "numpy", "requests"),
    ),
}


class PeerError(RuntimeError):
    """A peer subprocess failed, timed out or printed no JSON line."""


def venv_python(name: str) -> Path:
    return VENV_ROOT / name / "bin" / "python"


def _check_ok(python: Path, check: str) -> bool:
    if not python.exists():
        return False
    r = subprocess.run([str(python), "-c", check], capture_output=True, text=True)
    return r.returncode == 0


def ensure_venv(name: str, *, quiet: bool = False) -> Path:
    """Create the venv of peer ``name`` unless it exists and works; return its python."""
    peer = PEERS[name]
    python = venv_python(name)
    if _check_ok(python, peer.check):
        return python
    out = subprocess.DEVNULL if quiet else None
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV_ROOT / name)], check=True, stdout=out)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    subprocess.run(pip + ["install", *peer.requirements], check=True, stdout=out)
    r = subprocess.run([str(python), "-c", peer.check], capture_output=True, text=True)
    if r.returncode != 0:
        raise PeerError(f"venv {name!r} installed but its check failed:\n{r.stderr.strip()}")
    return python


def venv_versions(tools: list[str] | tuple[str, ...], venv_of: dict[str, str]) -> dict:
    """The versions in the venv of each peer among ``tools`` (``venv_of``: tool -> venv), each
    under the key ``"<venv> venv"``; the venvs are made if needed."""
    return {f"{name} venv": versions(ensure_venv(name), PEERS[name].version_modules)
            for tool, name in venv_of.items() if tool in tools}


def python_for(tool: str, venv_of: dict[str, str]) -> str:
    """The Python that runs ``tool``: that of its peer's venv (``venv_of``: tool -> venv; made if
    needed), else this one."""
    return str(ensure_venv(venv_of[tool])) if tool in venv_of else sys.executable


def pythons_for(tools: list[str], venv_of: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(:func:`python_for` of each of ``tools``, an error for each tool whose venv could not be built)."""
    pythons: dict[str, str] = {}
    errors: dict[str, str] = {}
    for tool in tools:
        try:
            pythons[tool] = python_for(tool, venv_of)
        except Exception as exc:  # a venv that cannot be built is a failed peer, not a crash
            errors[tool] = f"environment setup failed: {exc}"
    return pythons, errors


def parse_json_line(stdout: str) -> dict:
    """The last line of ``stdout`` that is a JSON object."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise PeerError("no JSON result line in the output:\n" + stdout[-2000:])


def run_json(python: str | os.PathLike, code: str, args: list[str] | tuple[str, ...] = (), *,
             timeout: float | None = None, env: dict | None = None,
             cwd: str | os.PathLike | None = None) -> dict:
    """Run ``code`` (a script's text) with ``python`` and ``args`` (``sys.argv[1:]``) in a fresh
    process (in ``cwd``, default the cache folder, so that the caller's working directory does
    not shadow installed packages); return the JSON object it printed last. Raises :class:`PeerError` on failure or
    timeout, with the tail of its stderr."""
    cmd = [str(python), "-c", code, *map(str, args)]
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})}, cwd=str(cwd or CACHE_DIR))
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"timed out after {timeout:g} s (whole subprocess)") from exc
    if r.returncode != 0:
        tail = (r.stderr or "").strip().splitlines()[-15:]
        raise PeerError(f"exit code {r.returncode}: " + "\n".join(tail))
    return parse_json_line(r.stdout)


VERSIONS_CODE = r"""
import json, sys, platform
from importlib.metadata import version, PackageNotFoundError
out = {"python": platform.python_version()}
for name in sys.argv[1:]:
    try:
        out[name] = version(name)
    except PackageNotFoundError:
        out[name] = None
try:
    import h5py
    out["libhdf5"] = h5py.version.hdf5_version
except Exception:
    pass
print(json.dumps(out))
"""


def versions(python: str | os.PathLike, modules: tuple[str, ...] | list[str]) -> dict:
    """Python, package and libhdf5 versions of the environment of ``python``."""
    return run_json(python, VERSIONS_CODE, list(modules), timeout=120)


def main() -> None:
    for name, peer in PEERS.items():
        python = ensure_venv(name)
        print(name, python, json.dumps(versions(python, peer.version_modules)))


if __name__ == "__main__":
    main()
