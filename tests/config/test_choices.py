"""Every choice list of config/choices.py is what its implementing module offers, and the
config checks refuse anything else before a run starts."""

import pytest

from slowfast_atfr.config import choices
from slowfast_atfr.config.checks import DOMAINS
from slowfast_atfr.evaluation.view_ensemble import TestMeter
from slowfast_atfr.models import varlen
from slowfast_atfr.models.atfr import similarity
from slowfast_atfr.models.norm_helper import get_norm
from slowfast_atfr.solver import lr_policy

KEYS = {
    "ATFR.STAGE": choices.SAMPLER_STAGES,
    "ATFR.KERNEL": choices.SGS_KERNELS,
    "ATFR.MEASURE": choices.SIMILARITY_MEASURES,
    "ATFR.SIMILARITY_NET": choices.SIMILARITY_NETS,
    "ATFR.TRAIN_BATCHING": choices.TRAIN_BATCHINGS,
    "ATFR.EVAL_BATCHING": choices.EVAL_BATCHINGS,
    "BN.NORM_TYPE": choices.NORM_TYPES,
    "MODEL.EVAL_OUTPUT": choices.EVAL_OUTPUTS,
    "SOLVER.LR_POLICY": choices.LR_POLICIES,
    "SOLVER.OPTIMIZING_METHOD": choices.OPTIMIZING_METHODS,
    "DATA.ENSEMBLE_METHOD": choices.ENSEMBLE_METHODS,
}


@pytest.mark.parametrize("key", sorted(KEYS))
def test_the_config_checks_accept_exactly_the_choices(key):
    domain = DOMAINS[key]
    assert all(domain.offender(value) is None for value in KEYS[key])
    assert domain.offender("none_of_these") is not None


def test_every_choice_has_an_implementation():
    assert set(similarity.MEASURES) == set(choices.SIMILARITY_MEASURES)
    assert set(similarity.SIMILARITY_NETS) == set(choices.SIMILARITY_NETS)
    assert set(varlen.RUNS) == set(choices.TRAIN_BATCHINGS) | set(choices.EVAL_BATCHINGS)
    assert set(lr_policy._POLICIES) == set(choices.LR_POLICIES)
    for name in choices.NORM_TYPES:
        get_norm(name, num_splits=2)
    for method in choices.ENSEMBLE_METHODS:
        TestMeter(2, 3, method)
