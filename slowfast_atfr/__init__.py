"""slowfast_atfr: PySlowFast-style video models with adaptive temporal feature resolutions."""

__version__ = "0.1.0"
