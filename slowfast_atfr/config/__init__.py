"""Config tree (fvcore CfgNode) with PySlowFast's groups plus ATFR."""

from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg

__all__ = ["get_cfg", "assert_and_infer_cfg"]
