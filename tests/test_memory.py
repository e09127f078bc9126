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


FAULTS = """
import resource, threading
import numpy as np
from tinyvit.memory import keep_freed_memory
keep_freed_memory()

def forward_like():   # 240 MB of 3 MB arrays, freed out of order, as a forward pass's are
    arrays = [np.ones(3 << 18, dtype=np.float32) for _ in range(40)]
    keep = arrays[::2]
    del arrays
    more = [np.ones(3 << 18, dtype=np.float32) for _ in range(40)]
    del keep, more

faults = []
def worker():
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        forward_like()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=worker)
thread.start()
thread.join()
print(faults[1])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_a_thread_reuses_freed_memory_without_page_faults():
    # A thread that is not the main one allocates, fills and frees the same arrays twice: the
    # second time their pages are still mapped. With an arena of its own (glibc's default) the
    # thread page-faulted ~17,000 times the second time round.
    out = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 1000
