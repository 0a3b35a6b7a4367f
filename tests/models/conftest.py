"""Makes tests/models/tiny_models.py importable; one torch thread."""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# One thread: the test machine's two cores are shared, and OpenMP spinning across busy
# cores makes these tiny convolutions many times slower.
torch.set_num_threads(1)
