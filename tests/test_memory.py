"""tinyvit/memory.py: malloc keeps freed memory, unless TINYVIT_KEEP_MEMORY=0 says not to."""

import os
import subprocess
import sys

import pytest

CHECK = "from tinyvit.memory import keep_freed_memory; print(keep_freed_memory())"


def _run(**env) -> str:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_malloc_is_tuned_on_linux():
    assert _run() == "True"


def test_the_tuning_can_be_turned_off():
    assert _run(TINYVIT_KEEP_MEMORY="0") == "False"
