"""``spikestream.runtime`` imports and runs with Qt, pyqtgraph and numba absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys

    BLOCKED = ("PySide6", "pyqtgraph", "numba", "spikestream.training", "spikestream.gui")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.startswith(BLOCKED):
                raise ModuleNotFoundError(f"{name} is blocked by the isolation test", name=name)
            return None

    sys.meta_path.insert(0, Block())
    import numpy as np

    import spikestream.runtime as rt
    from spikestream.runtime.engine import Engine
    from spikestream.runtime.readout import Readout
    from spikestream.runtime.profiler import Profiler
    from spikestream.runtime.testing import random_model
    from spikestream.streams.events import make_events
    from spikestream.streams.windowing import EventWindow

    eng = Engine(random_model("lif"), backend="torch")
    ev = make_events([0, 10], [5, 6], [7, 8], [0, 1])
    r = eng.step(EventWindow(0, 1000, ev, 0))
    assert r.output.shape == (11,)
    try:
        Engine(random_model("lif"), backend="numba")
    except rt.BackendError as e:
        print("numba:", e)
    loaded = sorted(m for m in sys.modules if m.startswith(BLOCKED))
    print("loaded:", loaded)
    assert not loaded, loaded
    """
)


def test_runtime_needs_neither_qt_nor_numba():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "loaded: []" in proc.stdout
    assert "numba: backend 'numba' needs the package 'numba'" in proc.stdout or \
        "numba: backend 'numba' is not available" in proc.stdout
