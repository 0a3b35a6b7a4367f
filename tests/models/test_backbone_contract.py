"""The contract every registered family keeps, with and without ATFR (timm-style sweep)."""

import pytest
import torch
import torch.nn.functional as F
from tiny_models import (
    NUM_CLASSES,
    TINY,
    assert_same_training,
    build_tiny,
    calibrate_bn,
    mixed_clips,
    relative_errors,
    tiny_cfg,
    train_pass,
    variants,
)

from slowfast_atfr.config.defaults import assert_and_infer_cfg
from slowfast_atfr.models import MODEL_REGISTRY, varlen
from slowfast_atfr.models.varlen import VarLenBatchNorm3d

PAIRS = variants()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _build(name, variant, atfr, sampler="SGS"):
    cfg = tiny_cfg(name, variant, atfr, sampler)
    return cfg, build_tiny(cfg)


def test_every_registered_model_has_a_tiny_config():
    # Other test folders register their own tiny models; only the package's count here.
    ours = [k for k, v in MODEL_REGISTRY if v.__module__.startswith("slowfast_atfr.")]
    assert sorted(ours) == sorted(TINY)


@pytest.mark.parametrize("atfr", [False, True], ids=["base", "atfr"])
@pytest.mark.parametrize("name,variant", PAIRS)
def test_train_step_gives_finite_logits_and_every_gradient(name, variant, atfr):
    cfg, model = _build(name, variant, atfr)
    model.train()
    xs = mixed_clips(cfg)
    logits = model(xs)
    assert logits.shape == (4, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.arange(4) % NUM_CLASSES).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    if atfr:
        assert model.temporal_lengths.shape == (4, len(xs))
        assert model.temporal_lengths.dtype == torch.int64
    else:
        assert model.temporal_lengths is None


@pytest.mark.parametrize("sampler,batching", [(None, "grouped"), ("SGS", "grouped"),
                                              ("TestDedupSampler", "grouped"),
                                              ("TestDedupSampler", "padded")])
@pytest.mark.parametrize("name,variant", PAIRS)
def test_eval_batched_equals_per_sample(name, variant, sampler, batching):
    """A clip's logits do not depend on its batch mates (exact variable-length batching), with
    either ATFR.EVAL_BATCHING.

    SGS turns frame similarities into sampling positions, which amplifies the float32
    rounding differences that batched convolutions have before the sampler (~1e-6) to
    ~1e-4; its models are therefore compared in float64, where rounding is negligible.
    """
    cfg = tiny_cfg(name, variant, sampler is not None, sampler or "SGS")
    cfg.ATFR.EVAL_BATCHING = batching
    model = build_tiny(cfg)
    assert model.eval_batching == batching
    dtype = torch.float64 if sampler == "SGS" else torch.float32
    model.to(dtype)
    xs = [x.to(dtype) for x in mixed_clips(cfg)]
    calibrate_bn(model, xs)
    with torch.no_grad():
        batched = model(xs)
        lengths = model.temporal_lengths
        singles, single_lengths = [], []
        for i in range(4):
            singles.append(model([x[i:i + 1] for x in xs]))
            single_lengths.append(model.temporal_lengths)
    assert torch.allclose(batched, torch.cat(singles), atol=1e-5)
    if sampler is not None:
        assert torch.equal(lengths, torch.cat(single_lengths))
    if sampler == "TestDedupSampler":
        assert len(torch.unique(lengths, dim=0)) > 1, "the batch must mix lengths"


def _after_sampler_inputs(model, xs):
    with torch.no_grad():
        return model.sample(model.forward_before_sampler(xs))


@pytest.mark.parametrize("name,variant", PAIRS)
def test_padded_masked_run_equals_grouped_run_in_eval(name, variant):
    """The training representation (padding + masks) computes what lone clips compute."""
    cfg, model = _build(name, variant, True, "TestDedupSampler")
    calibrate_bn(model, mixed_clips(cfg, seed=1))
    feats, lengths = _after_sampler_inputs(model, mixed_clips(cfg))
    assert len(torch.unique(lengths, dim=0)) > 1
    with torch.no_grad():
        grouped = varlen.run_grouped(model.forward_after_sampler, feats, lengths)
        padded = varlen.run_padded(model.forward_after_sampler, feats, lengths)
    assert torch.allclose(padded, grouped, atol=1e-5)


def _bn_stats(model):
    return {n: (m.running_mean.clone(), m.running_var.clone())
            for n, m in model.named_modules() if isinstance(m, VarLenBatchNorm3d)}


@pytest.mark.parametrize("name,variant", PAIRS)
def test_training_ignores_the_amount_of_padding(name, variant):
    """Train-mode outputs and BN running statistics depend on valid frames only (float64: the
    extra padding changes the convolutions' reduction order, not the result)."""
    cfg, model = _build(name, variant, True, "TestDedupSampler")
    model.double().train()
    feats, lengths = _after_sampler_inputs(model, [x.double() for x in mixed_clips(cfg)])
    extra = [F.pad(x, (0, 0, 0, 0, 0, 3)) for x in feats]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = varlen.run_padded(model.forward_after_sampler, feats, lengths)
    stats = _bn_stats(model)
    model.load_state_dict(state)
    out_extra = varlen.run_padded(model.forward_after_sampler, extra, lengths)
    stats_extra = _bn_stats(model)
    torch.testing.assert_close(out, out_extra, rtol=1e-9, atol=1e-9)
    for name_bn, (mean, var) in stats.items():
        torch.testing.assert_close(mean, stats_extra[name_bn][0], rtol=1e-9, atol=1e-9,
                                   msg=lambda m, n=name_bn: f"{n}: {m}")
        torch.testing.assert_close(var, stats_extra[name_bn][1], rtol=1e-9, atol=1e-9,
                                   msg=lambda m, n=name_bn: f"{n}: {m}")


@pytest.mark.parametrize("name,variant", PAIRS)
def test_atfr_adds_only_sampler_keys_and_loads_baseline_weights(name, variant):
    _, base = _build(name, variant, False)
    _, atfr = _build(name, variant, True)
    base_sd, atfr_sd = base.state_dict(), atfr.state_dict()
    extra = set(atfr_sd) - set(base_sd)
    assert extra and all(k.startswith("sampler.") for k in extra)
    assert set(base_sd) <= set(atfr_sd)
    assert all(base_sd[k].shape == atfr_sd[k].shape for k in base_sd)
    result = atfr.load_state_dict(base_sd, strict=False)
    assert result.unexpected_keys == []
    assert set(result.missing_keys) == extra
    assert all(torch.equal(atfr.state_dict()[k], v) for k, v in base_sd.items())


@pytest.mark.parametrize("name,variant", PAIRS)
def test_keep_everything_sampler_reproduces_the_baseline(name, variant):
    """With a sampler that keeps every frame the ATFR model is the baseline model."""
    cfg, base = _build(name, variant, False)
    _, atfr = _build(name, variant, True)
    atfr.load_state_dict(base.state_dict(), strict=False)
    atfr.attach_sampler([None] * atfr.num_pathways, cfg.ATFR.STAGE)
    calibrate_bn(base, mixed_clips(cfg, seed=1))
    atfr.load_state_dict(base.state_dict(), strict=False)
    atfr.eval()
    xs = mixed_clips(cfg)
    with torch.no_grad():
        assert torch.allclose(atfr(xs), base(xs), atol=1e-5)


# Config variants of the sampler and the norm that packed training must reproduce exactly.
_TRAIN_VARIANTS = {
    "sgs": {},
    "dedup_lengths": {"ATFR.SAMPLER": "TestDedupSampler"},
    "temporal_blocks": {"ATFR.BLOCK_LENGTH": 3},
    "angular_bins": {"ATFR.MEASURE": "angular", "ATFR.EMBED_DIM": 3, "ATFR.MULTI_BINS": [2, 3]},
    "sub_batchnorm": {"BN.NORM_TYPE": "sub_batchnorm", "BN.NUM_SPLITS": 2},
}


def _train_variant_cfg(name, variant, overrides):
    cfg = tiny_cfg(name, variant, True, overrides.get("ATFR.SAMPLER", "SGS"))
    pathways = len(cfg.ATFR.PATHWAYS)
    for key, value in overrides.items():
        group, leaf = key.split(".")
        per_pathway = leaf == "BLOCK_LENGTH"
        cfg[group][leaf] = [value] * pathways if per_pathway else value
    return cfg


@pytest.mark.parametrize("train_variant", sorted(_TRAIN_VARIANTS))
@pytest.mark.parametrize("name,variant", PAIRS)
def test_packed_training_equals_padded_training(name, variant, train_variant):
    """ATFR.TRAIN_BATCHING packed (compute and memory follow the sum of B') gives the padded,
    masked path's logits, loss, every gradient and the BN running statistics (float64)."""
    cfg = _train_variant_cfg(name, variant, _TRAIN_VARIANTS[train_variant])
    model = build_tiny(cfg).double()
    xs = [x.double() for x in mixed_clips(cfg)]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    packed = train_pass(model, xs, "packed")
    lengths = model.temporal_lengths
    model.load_state_dict(state)
    padded = train_pass(model, xs, "padded")
    assert torch.equal(lengths, model.temporal_lengths)
    assert_same_training(packed, padded, rtol=1e-7, atol=1e-9)
    if train_variant == "dedup_lengths":
        assert len(torch.unique(lengths, dim=0)) > 1, "the batch must mix lengths"


@pytest.mark.parametrize("name,variant", PAIRS)
def test_packed_training_equals_padded_training_in_mixed_precision(name, variant):
    """Under CPU autocast (bf16, TRAIN.MIXED_PRECISION) packed and padded training differ by
    less than mixed precision itself changes the padded path's float32 result: the packed
    path adds no error of its own beyond rounding."""
    cfg = _train_variant_cfg(name, variant, _TRAIN_VARIANTS["dedup_lengths"])
    model = build_tiny(cfg)
    xs = mixed_clips(cfg)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    float32 = train_pass(model, xs, "padded")
    results = {}
    for batching in ("packed", "padded"):
        model.load_state_dict(state)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            results[batching] = train_pass(model, xs, batching)
    assert all(torch.isfinite(g).all() for g in results["packed"][2].values())
    between = relative_errors(results["packed"], results["padded"])
    amp_error = relative_errors(results["padded"], float32)
    for key, error in between.items():
        assert error <= 1.5 * amp_error[key] + 1e-3, (key, error, amp_error[key])


@pytest.mark.parametrize("name,variant", [("ResNet", "c2d18"), ("X3D", "xs"), ("R2plus1D", "r18")])
def test_sampler_input_before_relu_moves_the_blocks_relu_after_the_sampler(name, variant):
    seen = {}

    def record(module, inputs):
        seen[module] = inputs[0].detach()

    clips = mixed_clips(tiny_cfg(name, variant, True))
    for before in (False, True):
        cfg = tiny_cfg(name, variant, True)
        cfg.ATFR.INPUT_BEFORE_RELU = before
        torch.manual_seed(0)
        model = build_tiny(assert_and_infer_cfg(cfg))
        sampler = model.sampler[0]
        sampler.register_forward_pre_hook(record)
        model.train()
        model(clips).sum().backward()
        assert bool((seen[sampler] < 0).any()) == before  # the pre-ReLU sum has negatives
        assert all(torch.isfinite(p.grad).all() for p in model.parameters()
                   if p.grad is not None)


def test_sampler_input_before_relu_is_refused_where_it_has_no_meaning():
    cfg = tiny_cfg("SlowFast", next(iter(TINY["SlowFast"])), True)
    cfg.ATFR.INPUT_BEFORE_RELU = True
    with pytest.raises(ValueError, match="ATFR.INPUT_BEFORE_RELU needs a single-pathway"):
        build_tiny(assert_and_infer_cfg(cfg))
