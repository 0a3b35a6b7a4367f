"""Makes the tiny models (tests/models) and the engine's run helpers (tests/engine)
importable for the checkpoint tests."""

import os
import sys

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(_TESTS, "models"), os.path.join(_TESTS, "engine")]
