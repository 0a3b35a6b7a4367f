"""Makes tests/models/tiny_models.py importable (and registers its test sampler)."""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tiny_models  # noqa: E402,F401

# One thread: the test machine's two cores are shared, and OpenMP spinning across busy
# cores makes these tiny convolutions many times slower.
torch.set_num_threads(1)
