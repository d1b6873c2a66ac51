"""Open every page of the app under Streamlit's AppTest, then exit: run as ``python -m tests.pages.visit_every_page``.

A child process for :mod:`tests.pages.test_clean_exit`: it starts what the app starts (the warm-up
job, the loopback fake endpoint, the workspace) and must leave with exit code 0, never an abort from
a background thread still inside native code while the interpreter shuts down.

Usage: ``python -m tests.pages.visit_every_page WORKSPACE.sqlite [--defaults]``

With ``--defaults`` the app runs as ``make run`` starts it (embedded local backend, the default
embedder, the automatic build of the sample user), so the process ends while that build may still be
running in the background; without it, against the loopback fake endpoint with the test stages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
PAGES = ("upload", "factor_map", "factors", "summary", "reasoning", "compare", "evaluate", "export")


def main(workspace: str, defaults: bool = False) -> int:
    """Visit each page once; return 0 when none raised."""
    from streamlit.runtime import pages_manager

    # As the server does once app.py has called st.navigation (see tests/pages/conftest.py).
    original = pages_manager.PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pages_manager.PagesManager.uses_pages_directory = False

    pages_manager.PagesManager.__init__ = init
    os.environ["INFLOW_WORKSPACE"] = workspace
    if defaults:
        failures = _visit()
    else:
        with FakeOpenAIServer() as server:
            os.environ.update({"INFLOW_BACKEND": "openai", "OPENAI_BASE_URL": server.base_url,
                               "OPENAI_API_KEY": "sk-test-key", "INFLOW_MODEL": "fake-model",
                               "INFLOW_STAGES": "deterministic", "INFLOW_EMBEDDER": "hashing",
                               "INFLOW_AUTO_BUILD": "0"})
            failures = _visit()
    for line in failures:
        print(line, file=sys.stderr)
    print(f"visited {len(PAGES)} pages, {len(failures)} exceptions")
    return 1 if failures else 0


def _visit() -> list[str]:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    at.run()
    failures = [f"start: {e.value}" for e in at.exception]
    for page in PAGES:
        at.switch_page(f"pages/{page}.py")
        at.run()
        failures += [f"{page}: {e.value}" for e in at.exception]
    return failures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], defaults="--defaults" in sys.argv[2:]))
