"""numpy (~0.2-1 s to import) is loaded by the first index build, not at server start."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_plugin_does_not_import_numpy() -> None:
    code = (
        "import sys, scs_search.plugin, scs_search.service, scs_search.cache;"
        "print('numpy' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
