"""Registers the tiny model and synthetic data set of engine_tiny.py for the engine tests."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import engine_tiny  # noqa: E402,F401
