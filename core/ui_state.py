"""UI-free helpers for the Streamlit workbench: defaults, sample data bootstrap, backend status line.

Nothing here imports Streamlit, so tests reach it directly. The app keeps its state in plain
``st.session_state`` keys named in :class:`Keys`, so widget keys (which vanish when a page is left)
are never the only copy of anything that must survive a page switch.

Environment variables read here (besides the backend ones of :mod:`core.llm.settings`):

* ``INFLOW_WORKSPACE``: the workspace file (default ``.inflow/workspace.sqlite`` in the repo);
* ``INFLOW_STAGES``: ``auto`` (default), ``deterministic`` or ``llm`` stage implementations;
* ``INFLOW_EMBEDDER``: ``hash``, ``minilm`` or ``openai`` (default: ``minilm`` when installed, else ``hash``);
* ``INFLOW_NO_SAMPLES``: set to ``1`` to open an empty workspace without the sample data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.load import load
from core.data.model import Dataset
from core.errors import InputError, Problem
from core.llm.settings import BackendSettings
from core.llm.types import Capabilities
from core.store.workspace import EVALUATION_SOURCE, Workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORKSPACE = REPO_ROOT / ".inflow" / "workspace.sqlite"
SAMPLE_DIR = REPO_ROOT / "sample_data"
# Sample datasets loaded into a fresh workspace: dataset id -> files (relative to sample_data/).
AUTO_SAMPLES: dict[str, tuple[str, ...]] = {"reviews": ("reviews.csv",), "movie_tags": ("movie_tags.csv",)}
STAGE_MODES = ("auto", "deterministic", "llm")
STAGE_NAMES = ("features", "factor names", "summary", "reasoning paths")


class Keys:
    """Plain session-state keys that survive page switches (values are set by the app, read by pages)."""

    WORKSPACE_PATH = "inflow_workspace_path"
    DATASET = "inflow_dataset_id"
    USER = "inflow_user_id"
    BACKEND = "inflow_backend_settings"  # BackendSettings (the key lives here only, in memory)
    STAGES = "inflow_stage_mode"
    EMBEDDER = "inflow_embedder"
    PIPELINE = "inflow_pipeline_overrides"  # dict of PipelineSettings overrides (UMAP/HDBSCAN controls)
    SELECTION = "inflow_map_selection"  # feature ids of the current lasso / box selection
    REASONING = "inflow_reasoning"  # dict: query, gold, method, trace, cursor, ...
    COMPARE = "inflow_compare"
    EVAL_ID = "inflow_eval_id"
    DRILL = "inflow_drill"  # a per-query row sent from Evaluate to the step-by-step page
    UPLOAD = "inflow_upload"
    UPLOAD_FOLDER = "inflow_upload_folder"  # UploadFolder: this session's copies of the uploaded files


def default_workspace_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the workspace file to open at start: ``$INFLOW_WORKSPACE`` or ``.inflow/workspace.sqlite``."""
    env = os.environ if environ is None else environ
    return Path(env["INFLOW_WORKSPACE"]) if env.get("INFLOW_WORKSPACE") else DEFAULT_WORKSPACE


def check_workspace_path(text: str) -> Path:
    """Validate a workspace path typed by the user.

    Raises:
        InputError: Empty, a folder, or a folder that cannot be created (field ``workspace``).
    """
    raw = (text or "").strip()
    if not raw:
        raise InputError(Problem("workspace", None, "workspace", "enter a file path, e.g. .inflow/workspace.sqlite"))
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = REPO_ROOT / path
    if path.is_dir():
        raise InputError(Problem(str(path), None, "workspace", "this is a folder; give a .sqlite file inside it"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(Problem(str(path), None, "workspace", f"cannot create its folder: {exc}")) from None
    return path


def default_stage_mode(environ: Mapping[str, str] | None = None) -> str:
    """Return ``$INFLOW_STAGES`` when it is a known mode, else ``auto``."""
    env = os.environ if environ is None else environ
    mode = (env.get("INFLOW_STAGES") or "auto").strip().lower()
    return mode if mode in STAGE_MODES else "auto"


def extractor_choice(mode: str) -> str:
    """Map a stage mode to the feature extractor choice of :func:`core.stages.features.choose_extractor`."""
    return {"deterministic": "lexicon", "llm": "llm"}.get(mode, "auto")


# -- sample data --------------------------------------------------------------------------------------
def sample_choices(sample_dir: Path = SAMPLE_DIR) -> dict[str, list[Path]]:
    """Return the sample datasets found on disk, as ``{label: [files]}`` (LaMP pairs as one entry)."""
    if not sample_dir.is_dir():
        return {}
    out: dict[str, list[Path]] = {}
    for p in sorted(sample_dir.iterdir()):
        name = p.name
        if p.suffix.lower() not in (".csv", ".json", ".jsonl") or name.endswith("_outputs.json"):
            continue
        if name.endswith("_questions.json"):
            partner = p.with_name(name[: -len("_questions.json")] + "_outputs.json")
            out[name[: -len("_questions.json")]] = [p] + ([partner] if partner.exists() else [])
        else:
            out[p.stem] = [p]
    return out


def load_files(ws: Workspace, paths: list[Path], *, dataset_id: str, keep_valid: bool = False,
               mapping: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """Load files with :func:`core.data.load.load` and store the dataset in the workspace.

    Returns:
        The dataset id and the :class:`~core.data.load.LoadResult`.

    Raises:
        InputError: The files have problems (and ``keep_valid`` is off or nothing valid is left).
    """
    result = load([str(p) for p in paths], keep_valid=keep_valid, mapping=mapping, name=dataset_id)
    did = ws.add_dataset(result.dataset, dataset_id=dataset_id, source=", ".join(p.name for p in paths))
    return did, result


def ensure_sample_data(ws: Workspace, sample_dir: Path = SAMPLE_DIR,
                       samples: Mapping[str, tuple[str, ...]] = AUTO_SAMPLES) -> list[str]:
    """Load the sample datasets into a workspace that has no dataset yet.

    A workspace that already holds any dataset is left alone (the user may have deleted the samples).
    Missing sample files are skipped.

    Returns:
        The ids of the datasets added.
    """
    if ws.list_datasets():
        return []
    added: list[str] = []
    for did, names in samples.items():
        paths = [sample_dir / n for n in names]
        if not all(p.is_file() for p in paths):
            continue
        load_files(ws, paths, dataset_id=did)
        added.append(did)
    return added


def user_choices(counts: Mapping[str, int]) -> list[str]:
    """Return the user picker's order: ids sorted with their numbers compared as numbers (``u2`` before ``u10``).

    Why sorted: a LaMP dataset has 1,500 users in file order; the picker also filters as one types.
    """
    import re

    def key(uid: str) -> list[Any]:
        return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", uid)]

    return sorted(counts, key=key)


def user_caption(user_id: str, counts: Mapping[str, int]) -> str:
    """Return ``"ava (96 items)"``: the history size tells which users have enough to build a profile."""
    n = counts.get(user_id, 0)
    return f"{user_id} ({n} item{'' if n == 1 else 's'})"


def dataset_short_caption(info: Mapping[str, Any]) -> str:
    """Return ``"reviews · 4 users · 342 items"``: what fits the sidebar picker (the full caption was cut at "342")."""
    users, items = int(info["n_users"]), int(info["n_items"])
    src = " · evaluation" if info.get("source") == EVALUATION_SOURCE else ""
    return f"{info['id']} · {users:,} user{'' if users == 1 else 's'} · {items:,} item{'' if items == 1 else 's'}{src}"


def dataset_caption(info: Mapping[str, Any]) -> str:
    """Return ``"reviews · score 1-5 · 3 users · 240 items"`` for a ``ws.list_datasets()`` row."""
    task = info["task"]
    if task.kind == "score":
        kind = f"score {task.score_min:g}-{task.score_max:g}"
    elif task.kind == "label":
        kind = f"label ({len(task.labels)} labels)" if task.labels else "label"
    else:
        kind = "text"
    q = f" · {info['n_queries']} queries" if info.get("n_queries") else ""
    src = " · evaluation" if info.get("source") == EVALUATION_SOURCE else ""
    return f"{info['id']} · {kind} · {info['n_users']} users · {info['n_items']} items{q}{src}"


def dataset_users(dataset: Dataset) -> list[tuple[str, int]]:
    """Return ``(user id, number of items)`` for every user of a dataset."""
    return [(u.id, len(u.items)) for u in dataset.users]


# -- backend settings and status ----------------------------------------------------------------------
def settings_from_form(kind: str, *, base_url: str = "", model: str = "", api_key: str = "",
                       base: BackendSettings | None = None, local_model: str = "") -> BackendSettings:
    """Build backend settings from the sidebar form (blank fields fall back to ``base`` / the environment).

    Raises:
        InputError: The settings are invalid (see :meth:`BackendSettings.validate`).
    """
    base = base or BackendSettings()
    if kind == "local":
        s = BackendSettings(kind="local", gguf_path=base.gguf_path, max_concurrency=base.max_concurrency,
                            local_model=local_model.strip() or base.local_model)
    else:
        s = BackendSettings(kind="openai", base_url=base_url.strip() or base.base_url,
                            model=model.strip() or base.model, api_key=api_key.strip() or base.api_key,
                            max_concurrency=base.max_concurrency)
    s.validate()
    return s


@dataclass
class BackendStatus:
    """What the status line says.

    Attributes:
        backend: ``"local"`` / ``"openai"`` or ``"none"`` when no client could be made.
        model: Model name.
        stages: Stage name -> implementation in use (``"LLM"`` or the deterministic one).
        weak: True when the model is too small for free-text stages.
        error: Why no client could be made, if so.
        warnings: Lines to show as warnings.
    """

    backend: str
    model: str
    stages: dict[str, str] = field(default_factory=dict)
    weak: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        """One line: ``Backend local · SmolLM2-… · stages: features lexicon, …``."""
        model = f" · {self.model}" if self.model else ""
        stages = ", ".join(f"{k} {v}" for k, v in self.stages.items())
        return f"Backend {self.backend}{model} · stages: {stages}"


DETERMINISTIC = {"features": "lexicon (VADER)", "factor names": "c-TF-IDF keywords", "summary": "template",
                 "reasoning paths": "template"}


def backend_status(capabilities: Capabilities | None, stage_mode: str = "auto", *,
                   error: str | None = None) -> BackendStatus:
    """Say which backend and stage implementations are active, and warn when the model is too small.

    Args:
        capabilities: The client's capabilities, or None when no client could be made.
        stage_mode: ``auto`` (follow the capabilities), ``deterministic`` or ``llm``.
        error: Why the client could not be made.

    Returns:
        The status. In ``auto`` mode a weak model (``capabilities.is_weak``) or one without structured
        output gets the deterministic stages and a warning naming them.
    """
    if capabilities is None:
        st = BackendStatus(backend="none", model="", stages=dict(DETERMINISTIC), error=error)
        st.warnings.append(f"No chat model: {error or 'not configured'}. Deterministic stages only; answering "
                           "needs a backend.")
        return st
    capable = (not capabilities.is_weak) and capabilities.structured_output
    use_llm = stage_mode == "llm" or (stage_mode == "auto" and capable)
    stages = {name: "LLM" if use_llm else DETERMINISTIC[name] for name in STAGE_NAMES}
    st = BackendStatus(backend=capabilities.backend, model=capabilities.model, stages=stages,
                       weak=capabilities.is_weak, error=error)
    if capabilities.is_weak and stage_mode != "deterministic":
        if use_llm:
            st.warnings.append(f"{capabilities.model} is a small local model: its free text is unreliable, yet the "
                               "LLM stages were forced.")
        else:
            st.warnings.append(f"{capabilities.model} is too small for the free-text stages (features, factor "
                               "names, summary, paths): using the deterministic implementations. Answers still "
                               "use the model, held to a schema.")
    return st
