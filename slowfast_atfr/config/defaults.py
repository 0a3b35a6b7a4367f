"""The one config tree: PySlowFast's groups and key names, plus the ATFR group.

Every key is declared here once, with a comment above it. Checks that span several
keys live only in `assert_and_infer_cfg`.
"""

from fvcore.common.config import CfgNode

_C = CfgNode()

# ---------------------------------------------------------------------------- #
# Batch norm options
# ---------------------------------------------------------------------------- #
_C.BN = CfgNode()
# Precise BN stats: recompute BN statistics on this many batches after an epoch.
_C.BN.USE_PRECISE_STATS = False
# Number of batches used to compute precise BN statistics.
_C.BN.NUM_BATCHES_PRECISE = 200
# Weight decay applied to BN parameters.
_C.BN.WEIGHT_DECAY = 0.0
# Norm type: "batchnorm", "sub_batchnorm" or "sync_batchnorm".
_C.BN.NORM_TYPE = "batchnorm"
# Number of splits for sub_batchnorm.
_C.BN.NUM_SPLITS = 1
# PySlowFast's sync_batchnorm group size. Not read: sync_batchnorm here always syncs over
# all processes; kept for PySlowFast's YAML files.
_C.BN.NUM_SYNC_DEVICES = 1
# PySlowFast's global-sync flag; not read either (see BN.NUM_SYNC_DEVICES).
_C.BN.GLOBAL_SYNC = False

# ---------------------------------------------------------------------------- #
# Training options
# ---------------------------------------------------------------------------- #
_C.TRAIN = CfgNode()
# Run training.
_C.TRAIN.ENABLE = True
# Dataset name, looked up in DATASET_REGISTRY ("kinetics", "ssv2", "ucf101", ...).
_C.TRAIN.DATASET = "kinetics"
# Total mini-batch size over all processes of one machine.
_C.TRAIN.BATCH_SIZE = 64
# Evaluate on the validation split every this many epochs (0 = after the last one only).
_C.TRAIN.EVAL_PERIOD = 10
# Save a checkpoint every this many epochs (0 = after the last one only).
_C.TRAIN.CHECKPOINT_PERIOD = 10
# Resume from the last checkpoint in OUTPUT_DIR when there is one.
_C.TRAIN.AUTO_RESUME = True
# Path or http(s) URL of a checkpoint to initialise from.
_C.TRAIN.CHECKPOINT_FILE_PATH = ""
# Checkpoint format: "pytorch" (.pyth) or "caffe2" (.pkl).
_C.TRAIN.CHECKPOINT_TYPE = "pytorch"
# Inflate 2D weights into 3D kernels when loading.
_C.TRAIN.CHECKPOINT_INFLATE = False
# Reset the epoch counter when loading TRAIN.CHECKPOINT_FILE_PATH (fine-tuning).
_C.TRAIN.CHECKPOINT_EPOCH_RESET = False
# Load only the parameters whose names and shapes match (others stay initialised).
_C.TRAIN.CHECKPOINT_PARTIAL = False
# Known sha256 of TRAIN.CHECKPOINT_FILE_PATH; empty = look it up in the model zoo table.
_C.TRAIN.CHECKPOINT_SHA256 = ""
# Save a checkpoint every this many iterations inside an epoch (0 = only at epoch end).
_C.TRAIN.CHECKPOINT_ITER_PERIOD = 0
# Keep only this many newest mid-epoch checkpoints (0 = keep all); epoch ends are all kept.
_C.TRAIN.CHECKPOINT_ITER_KEEP = 2
# Use mixed precision (CUDA autocast float16; bfloat16 autocast on CPU).
_C.TRAIN.MIXED_PRECISION = False
# Stop training when an iteration's loss exceeds this factor times the mean of the 5 losses
# before it (0 = never), as PySlowFast; the newest checkpoint stays the last good one.
_C.TRAIN.KILL_LOSS_EXPLOSION_FACTOR = 0.0
# Substrings removed (first occurrence) from the checkpoint's parameter names before loading
# TRAIN.CHECKPOINT_FILE_PATH, e.g. ["backbone."] for a checkpoint of a wrapped model.
_C.TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN = []

# ---------------------------------------------------------------------------- #
# Testing options
# ---------------------------------------------------------------------------- #
_C.TEST = CfgNode()
# Run testing.
_C.TEST.ENABLE = True
# Dataset name for testing.
_C.TEST.DATASET = "kinetics"
# Total mini-batch size over all processes of one machine.
_C.TEST.BATCH_SIZE = 8
# Path or http(s) URL of the checkpoint to test; empty = last checkpoint in OUTPUT_DIR.
_C.TEST.CHECKPOINT_FILE_PATH = ""
# Known sha256 of TEST.CHECKPOINT_FILE_PATH; empty = look it up in the model zoo table.
_C.TEST.CHECKPOINT_SHA256 = ""
# Number of uniformly sampled clips per video.
_C.TEST.NUM_ENSEMBLE_VIEWS = 10
# Test once per entry, each with that many clips per video (PySlowFast's multi-view sweep;
# e.g. [1, 3, 10]); empty = once with TEST.NUM_ENSEMBLE_VIEWS.
_C.TEST.NUM_TEMPORAL_CLIPS = []
# Number of spatial crops per clip (1 or 3).
_C.TEST.NUM_SPATIAL_CROPS = 3
# Checkpoint format: "pytorch" (.pyth) or "caffe2" (.pkl).
_C.TEST.CHECKPOINT_TYPE = "pytorch"
# File in OUTPUT_DIR for the per-video test predictions: .pkl (PySlowFast's pickle of numpy
# [probabilities averaged over views, labels]), .pyth or .pt (torch); "" = do not save.
_C.TEST.SAVE_RESULTS_PATH = ""
# Skip (and report) undecodable videos instead of failing the test run.
_C.TEST.SKIP_BAD_VIDEOS = False
# Test with `models.inference_rewrite.optimize_for_inference` (BatchNorm folded; on CPU
# channels-last, oneDNN convolutions with fused ReLU): same predictions to float rounding.
_C.TEST.OPTIMIZE_FOR_INFERENCE = False

# ---------------------------------------------------------------------------- #
# ResNet options
# ---------------------------------------------------------------------------- #
_C.RESNET = CfgNode()
# Transformation of each block: "bottleneck_transform", "basic_transform", "x3d_transform".
_C.RESNET.TRANS_FUNC = "bottleneck_transform"
# Number of groups (1 = ResNet, >1 = ResNeXt).
_C.RESNET.NUM_GROUPS = 1
# Width of each group (64 = ResNet).
_C.RESNET.WIDTH_PER_GROUP = 64
# Apply ReLU in place.
_C.RESNET.INPLACE_RELU = True
# Apply the stride on the 1x1 conv (Caffe2 style).
_C.RESNET.STRIDE_1X1 = False
# Zero-initialise the last BN of each residual block.
_C.RESNET.ZERO_INIT_FINAL_BN = False
# PySlowFast key; not implemented, only False is accepted (config/checks.py).
_C.RESNET.ZERO_INIT_FINAL_CONV = False
# Number of blocks in res2..res5.
_C.RESNET.DEPTH = 50
# Per-stage, per-pathway number of blocks that use the temporal kernel basis (the others
# use a temporal kernel of 1).
_C.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [6], [3]]
# Per-stage, per-pathway spatial strides.
_C.RESNET.SPATIAL_STRIDES = [[1], [2], [2], [2]]
# Per-stage, per-pathway spatial dilations.
_C.RESNET.SPATIAL_DILATIONS = [[1], [1], [1], [1]]

# ---------------------------------------------------------------------------- #
# X3D options (Feichtenhofer, CVPR 2020)
# ---------------------------------------------------------------------------- #
_C.X3D = CfgNode()
# Width expansion factor.
_C.X3D.WIDTH_FACTOR = 1.0
# Depth expansion factor.
_C.X3D.DEPTH_FACTOR = 1.0
# Bottleneck expansion factor of the 3x3x3 conv.
_C.X3D.BOTTLENECK_FACTOR = 1.0
# Width of the head's lin_5 (the 1x1x1 conv after conv_5).
_C.X3D.DIM_C5 = 2048
# Channels of the first conv layer.
_C.X3D.DIM_C1 = 12
# Scale the residual stage widths as in the X3D paper.
_C.X3D.SCALE_RES2 = False
# BN after the linear layer of the head.
_C.X3D.BN_LIN5 = False
# Use channel-wise (depthwise) 3x3x3 convs in the stem and blocks.
_C.X3D.CHANNELWISE_3x3x3 = True

# ---------------------------------------------------------------------------- #
# Non-local options
# ---------------------------------------------------------------------------- #
_C.NONLOCAL = CfgNode()
# Per-stage, per-pathway block indices that get a non-local block.
_C.NONLOCAL.LOCATION = [[[]], [[]], [[]], [[]]]
# Per-stage, per-pathway number of groups.
_C.NONLOCAL.GROUP = [[1], [1], [1], [1]]
# Instantiation: "dot_product" or "softmax".
_C.NONLOCAL.INSTANTIATION = "dot_product"
# Per-stage, per-pathway pooling size [T, H, W] inside the non-local block.
_C.NONLOCAL.POOL = [[[1, 2, 2], [1, 2, 2]], [[1, 2, 2], [1, 2, 2]], [[1, 2, 2], [1, 2, 2]],
                    [[1, 2, 2], [1, 2, 2]]]

# ---------------------------------------------------------------------------- #
# Model options
# ---------------------------------------------------------------------------- #
_C.MODEL = CfgNode()
# Architecture family: "slow", "c2d", "i3d", "slowfast", "x3d", "r2plus1d", "resnet3d".
_C.MODEL.ARCH = "slowfast"
# Builder name in MODEL_REGISTRY ("SlowFast", "ResNet", "X3D", ...).
_C.MODEL.MODEL_NAME = "SlowFast"
# Number of classes.
_C.MODEL.NUM_CLASSES = 400
# Loss name: "cross_entropy" or "soft_cross_entropy".
_C.MODEL.LOSS_FUNC = "cross_entropy"
# Single-pathway architectures (MODEL.ARCH must be one of these or of the next list).
_C.MODEL.SINGLE_PATHWAY_ARCH = ["2d", "c2d", "i3d", "slow", "x3d", "r2plus1d", "resnet3d"]
# Multi-pathway architectures.
_C.MODEL.MULTI_PATHWAY_ARCH = ["slowfast"]
# Dropout rate before the final projection.
_C.MODEL.DROPOUT_RATE = 0.5
# Drop-connect rate (X3D).
_C.MODEL.DROPCONNECT_RATE = 0.0
# Initialisation std of the final projection.
_C.MODEL.FC_INIT_STD = 0.01
# PySlowFast key; only "softmax" is accepted (config/checks.py): the test loop applies it.
_C.MODEL.HEAD_ACT = "softmax"
# PySlowFast key; only False is accepted: activation checkpointing is not implemented.
_C.MODEL.ACT_CHECKPOINT = False
# Train only the final projection: the head's input is detached from the backbone.
_C.MODEL.DETACH_FINAL_FC = False
# Keep BatchNorm statistics fixed during training (BN layers run in eval mode).
_C.MODEL.FROZEN_BN = False
# Compress DDP's gradient all-reduce to float16 (several processes only).
_C.MODEL.FP16_ALLREDUCE = False
# What the model returns in eval mode: "logits" (this codebase; the test loop applies
# MODEL.HEAD_ACT) or "probabilities" (PySlowFast: the head applies MODEL.HEAD_ACT itself).
_C.MODEL.EVAL_OUTPUT = "logits"

# ---------------------------------------------------------------------------- #
# SlowFast options
# ---------------------------------------------------------------------------- #
_C.SLOWFAST = CfgNode()
# Channel ratio between the Slow and Fast pathways (1 / beta).
_C.SLOWFAST.BETA_INV = 8
# Frame rate ratio between the Fast and Slow pathways (alpha).
_C.SLOWFAST.ALPHA = 8
# Channel ratio of the fast-to-slow lateral fusion conv.
_C.SLOWFAST.FUSION_CONV_CHANNEL_RATIO = 2
# Temporal kernel size of the fast-to-slow lateral fusion conv.
_C.SLOWFAST.FUSION_KERNEL_SZ = 5

# ---------------------------------------------------------------------------- #
# ATFR options: adaptive temporal feature resolutions (Fayyaz et al., CVPR 2021)
# ---------------------------------------------------------------------------- #
_C.ATFR = CfgNode()
# Turn the backbone adaptive by inserting a temporal sampler.
_C.ATFR.ENABLED = False
# Sampler name in TEMPORAL_SAMPLER_REGISTRY: "SGS" or "TemporalAttention" (Table A.6).
_C.ATFR.SAMPLER = "SGS"
# Stage after which the sampler runs: "stem", "res2", "res3" or "res4" (Table 6).
_C.ATFR.STAGE = "res2"
# Per-pathway flag: which pathways get a sampler ([True] single pathway, [True, True] SlowFast).
_C.ATFR.PATHWAYS = [True, True]
# Per-pathway number of bins B at training (-1 = T of the input, or the block length).
_C.ATFR.NUM_BINS_TRAIN = [-1, -1]
# Per-pathway number of bins B at test time (-1 = same as NUM_BINS_TRAIN) (Table A.4).
_C.ATFR.NUM_BINS_TEST = [-1, -1]
# Per-pathway temporal block length K (0 = whole clip); SGS runs per block (App. A).
_C.ATFR.BLOCK_LENGTH = [0, 0]
# Dimension L of the similarity space (Table 3).
_C.ATFR.EMBED_DIM = 8
# Sampling kernel: "linear" (Eq. 6) or "kronecker" (Eq. 5) (Table 2).
_C.ATFR.KERNEL = "linear"
# Similarity measure: "magnitude" (Eq. 1), "angular", "spherical", "mean_distance".
_C.ATFR.MEASURE = "magnitude"
# Bins per dimension for multi-dimensional measures (angular 4x8, spherical 2x4x4; Eq. 9).
# Empty = the measure's default.
_C.ATFR.MULTI_BINS = []
# Similarity network f_s: "conv" (paper: pool, conv1 C->C, ReLU, conv1 C->L) or
# "mlp_bn" (authors' code: pool, Linear C->C/2, ReLU, Linear C/2->L, BatchNorm1d).
_C.ATFR.SIMILARITY_NET = "conv"
# Let the gradient of delta (Eq. 8) reach the backbone through the input of f_s. False: f_s
# reads detached features, so f_s learns from Eq. 8 and the backbone from Eq. 7 only; True
# made from-scratch training unstable in our runs (BENCHMARKS.md).
_C.ATFR.SIMILARITY_INPUT_GRAD = False
# The sampler reads its stage's last residual block before that block's ReLU (the sum of the
# residual and the shortcut, as the authors' layer), and the ReLU follows the sampler. False:
# it reads the stage's output (after the ReLU). Single-pathway models, not after the stem.
_C.ATFR.INPUT_BEFORE_RELU = False
# How training runs clips of different B' after the sampler; both give the same logits,
# gradients and BN statistics. "packed": each pathway's valid frames back to back in one
# tensor, so time and activation memory follow the sum of the B'; "padded": one masked
# tensor padded to the batch's longest clip (the earlier path, kept for comparison).
_C.ATFR.TRAIN_BATCHING = "packed"
# How eval runs clips of different B' after the sampler; all give each clip its lone
# result. "grouped": one call per distinct length, compute follows the sum of the lengths.
# "packed": one call on the clips packed back to back, compute follows the sum of the
# lengths too. "padded": one masked call on the batch padded to its longest clip.
_C.ATFR.EVAL_BATCHING = "grouped"

# ---------------------------------------------------------------------------- #
# Data options
# ---------------------------------------------------------------------------- #
_C.DATA = CfgNode()
# Folder of the list files (train.csv, val.csv, test.csv).
_C.DATA.PATH_TO_DATA_DIR = ""
# Prefix prepended to each video path of a list file.
_C.DATA.PATH_PREFIX = ""
# Separator of a list file line: "" = any whitespace or a comma; else one character. Paths
# holding it go in double quotes (csv style).
_C.DATA.PATH_LABEL_SEPARATOR = ""
# Split of UCF101 / HMDB51 (1, 2 or 3).
_C.DATA.SPLIT = 1
# Number of frames of a clip (fast pathway for SlowFast).
_C.DATA.NUM_FRAMES = 8
# Temporal stride between sampled frames, at TARGET_FPS.
_C.DATA.SAMPLING_RATE = 8
# Resample videos to this frame rate before sampling.
_C.DATA.TARGET_FPS = 30
# Per-channel mean used to normalise inputs.
_C.DATA.MEAN = [0.45, 0.45, 0.45]
# Per-channel std used to normalise inputs.
_C.DATA.STD = [0.225, 0.225, 0.225]
# Number of input channels.
_C.DATA.INPUT_CHANNEL_NUM = [3, 3]
# Feed BGR instead of RGB (after normalisation): what Caffe2-trained checkpoints expect,
# e.g. upstream's SSv2 recipe starting from a Caffe2 Kinetics model.
_C.DATA.REVERSE_INPUT_CHANNEL = False
# Short side jitter range [min, max] at training.
_C.DATA.TRAIN_JITTER_SCALES = [256, 320]
# Inception-style training crop: relative area range [min, max] of the crop (e.g. [0.08, 1.0]);
# when set, DATA.TRAIN_JITTER_SCALES is not used. Empty = scale jitter.
_C.DATA.TRAIN_JITTER_SCALES_RELATIVE = []
# Aspect ratio range [min, max] of that crop (e.g. [0.75, 1.3333]); needs
# DATA.TRAIN_JITTER_SCALES_RELATIVE.
_C.DATA.TRAIN_JITTER_ASPECT_RELATIVE = []
# Use inverse-uniform sampling of the short side at training.
_C.DATA.INV_UNIFORM_SAMPLE = False
# Crop size at training.
_C.DATA.TRAIN_CROP_SIZE = 224
# Crop size at test time (also the short side it is resized to).
_C.DATA.TEST_CROP_SIZE = 256
# Random horizontal flip at training.
_C.DATA.RANDOM_FLIP = True
# Decoding backend: "pyav" (the only one here); PySlowFast's "torchvision" runs with PyAV
# and one warning.
_C.DATA.DECODING_BACKEND = "pyav"
# PySlowFast's decode-time resize of its torchvision backend; PyAV decodes full frames and the
# transforms resize them (DATA.TRAIN_JITTER_SCALES, DATA.TEST_CROP_SIZE).
_C.DATA.DECODING_SHORT_SIZE = 256
# Decoder threads per video (0 = PyAV's choice).
_C.DATA.DECODER_THREADS = 1
# Maximum number of times a bad video is replaced by another before giving up.
_C.DATA.MAX_DECODE_RETRIES = 10
# Input is extracted frames instead of videos (SSv2).
_C.DATA.USE_FRAMES = False
# Create the built-in demo data set in PATH_TO_DATA_DIR when it is missing.
_C.DATA.AUTO_CREATE_DEMO = False
# Ensemble method of multi-view test predictions: "sum" or "max".
_C.DATA.ENSEMBLE_METHOD = "sum"
# PySlowFast's multi-label flag; multi-label data sets are not supported (only False).
_C.DATA.MULTI_LABEL = False

# ---------------------------------------------------------------------------- #
# Optimizer options
# ---------------------------------------------------------------------------- #
_C.SOLVER = CfgNode()
# Base learning rate (for the full TRAIN.BATCH_SIZE).
_C.SOLVER.BASE_LR = 0.1
# Learning rate policy: "cosine", "steps_with_relative_lrs" or "constant".
_C.SOLVER.LR_POLICY = "cosine"
# Final learning rate of the cosine policy.
_C.SOLVER.COSINE_END_LR = 0.0
# Learning-rate factor between the phases of the multigrid long cycle.
_C.SOLVER.GAMMA = 0.1
# PySlowFast key that no learning-rate policy reads (there either); accepted for its YAMLs.
_C.SOLVER.STEP_SIZE = 1
# Epochs at which the steps_with_relative_lrs policy changes the lr.
_C.SOLVER.STEPS = []
# Relative lrs of the steps_with_relative_lrs policy.
_C.SOLVER.LRS = []
# Number of training epochs.
_C.SOLVER.MAX_EPOCH = 300
# Momentum.
_C.SOLVER.MOMENTUM = 0.9
# Momentum dampening.
_C.SOLVER.DAMPENING = 0.0
# Nesterov momentum.
_C.SOLVER.NESTEROV = True
# L2 regularisation.
_C.SOLVER.WEIGHT_DECAY = 1e-4
# PySlowFast key that nothing reads (warm-up starts at SOLVER.WARMUP_START_LR); accepted
# for its YAMLs.
_C.SOLVER.WARMUP_FACTOR = 0.1
# Warm-up length in epochs.
_C.SOLVER.WARMUP_EPOCHS = 0.0
# Learning rate at the start of the warm-up.
_C.SOLVER.WARMUP_START_LR = 0.01
# Optimizer: "sgd", "adam" or "adamw".
_C.SOLVER.OPTIMIZING_METHOD = "sgd"
# Multiply SOLVER.BASE_LR, WARMUP_START_LR and COSINE_END_LR by NUM_SHARDS (linear scaling
# with the number of machines), as PySlowFast's assert_and_infer_cfg.
_C.SOLVER.BASE_LR_SCALE_NUM_SHARDS = False
# Cosine policy: start the cosine at its peak after the warm-up (it spans
# [WARMUP_EPOCHS, MAX_EPOCH]) instead of spanning [0, MAX_EPOCH].
_C.SOLVER.COSINE_AFTER_WARMUP = False
# No weight decay on 1-D parameters and biases (outside normalisation layers, which use
# BN.WEIGHT_DECAY): PySlowFast's third parameter group.
_C.SOLVER.ZERO_WD_1D_PARAM = False
# Adam and AdamW betas.
_C.SOLVER.BETAS = (0.9, 0.999)
# Clip gradients to this global norm (0 = no clipping).
_C.SOLVER.CLIP_GRAD_L2NORM = 0.0
# With ATFR, clip the temporal sampler's gradients to CLIP_GRAD_L2NORM as a group of their
# own. Eq. 8 scales the gradient of f_s by 1/gamma (10-300 on the demo model, against 5-10 for
# the rest); in one global norm it would shrink every backbone update.
_C.SOLVER.CLIP_GRAD_SAMPLER_SEPARATELY = True
# Clip gradients to this value (0 = no clipping).
_C.SOLVER.CLIP_GRAD_VAL = 0.0

# ---------------------------------------------------------------------------- #
# Misc options
# ---------------------------------------------------------------------------- #
# Number of GPUs per machine (0 = CPU).
_C.NUM_GPUS = 1
# Number of CPU processes per machine when NUM_GPUS is 0 (gloo backend).
_C.NUM_CPU_PROCESSES = 1
# Number of machines.
_C.NUM_SHARDS = 1
# Index of this machine.
_C.SHARD_ID = 0
# Folder of a run's outputs (config.yaml, logs, checkpoints, stats), relative to the working
# directory; when no YAML or override sets it, load_config uses output/<config folder>/<name>.
_C.OUTPUT_DIR = "output/default"
# Seed of python, numpy and torch.
_C.RNG_SEED = 1
# Log every this many iterations.
_C.LOG_PERIOD = 10
# Also log the model info at start.
_C.LOG_MODEL_INFO = True
# Distributed backend: "nccl" (GPU) or "gloo" (CPU).
_C.DIST_BACKEND = "nccl"
# Cache folder of checkpoints downloaded from URLs ("" = ~/.cache/slowfast_atfr).
_C.MODEL_ZOO_CACHE_DIR = ""

# ---------------------------------------------------------------------------- #
# Benchmark options
# ---------------------------------------------------------------------------- #
_C.BENCHMARK = CfgNode()
# Number of clips for the mean GFLOPs and timing.
_C.BENCHMARK.NUM_CLIPS = 32
# Batch size of the timing loops.
_C.BENCHMARK.BATCH_SIZE = 8
# Warm-up iterations before timing.
_C.BENCHMARK.WARMUP_ITERS = 2
# Time inference of both models after `models.inference_rewrite.optimize_for_inference`
# (BatchNorm folded; on CPU channels-last, oneDNN convolutions with fused ReLU). Same outputs.
_C.BENCHMARK.OPTIMIZE_FOR_INFERENCE = True
# CPU with glibc: keep freed memory in the heap while timing (utils/cpu_allocator.py), so that
# large activations are not page-faulted in again every batch; peak memory is measured apart.
_C.BENCHMARK.RETAIN_FREED_MEMORY = True

# ---------------------------------------------------------------------------- #
# Data loader options
# ---------------------------------------------------------------------------- #
_C.DATA_LOADER = CfgNode()
# Number of loader worker processes.
_C.DATA_LOADER.NUM_WORKERS = 8
# Pin memory.
_C.DATA_LOADER.PIN_MEMORY = True
# Enable multi-thread decoding.
_C.DATA_LOADER.ENABLE_MULTI_THREAD_DECODE = False

# ---------------------------------------------------------------------------- #
# Multigrid training (Wu et al., CVPR 2020)
# ---------------------------------------------------------------------------- #
_C.MULTIGRID = CfgNode()
# Multigrid epoch factor: total epochs = MAX_EPOCH * EPOCH_FACTOR.
_C.MULTIGRID.EPOCH_FACTOR = 1.5
# Enable the short cycle.
_C.MULTIGRID.SHORT_CYCLE = False
# Spatial scale factors of the short cycle (the third shape is the full one).
_C.MULTIGRID.SHORT_CYCLE_FACTORS = [0.5, 0.5 ** 0.5]
# Enable the long cycle.
_C.MULTIGRID.LONG_CYCLE = False
# (T factor, S factor) of each long-cycle shape.
_C.MULTIGRID.LONG_CYCLE_FACTORS = [
    (0.25, 0.5 ** 0.5),
    (0.5, 0.5 ** 0.5),
    (0.5, 1),
    (1, 1),
]
# Reference batch size per BN group; BN is split to keep it.
_C.MULTIGRID.BN_BASE_SIZE = 8
# PySlowFast key; only 3 is accepted (config/checks.py): evaluation follows TRAIN.EVAL_PERIOD.
_C.MULTIGRID.EVAL_FREQ = 3
# PySlowFast key; only 0 is accepted: the long cycle sets DATA.SAMPLING_RATE itself.
_C.MULTIGRID.LONG_CYCLE_SAMPLING_RATE = 0
# Default batch size (set by assert_and_infer_cfg when multigrid is on).
_C.MULTIGRID.DEFAULT_B = 0
# Default number of frames (set by assert_and_infer_cfg when multigrid is on).
_C.MULTIGRID.DEFAULT_T = 0
# Default crop size (set by assert_and_infer_cfg when multigrid is on).
_C.MULTIGRID.DEFAULT_S = 0

# ---------------------------------------------------------------------------- #
# TensorBoard
# ---------------------------------------------------------------------------- #
_C.TENSORBOARD = CfgNode()
# Log scalars to TensorBoard.
_C.TENSORBOARD.ENABLE = False
# Log folder ("" = OUTPUT_DIR/runs).
_C.TENSORBOARD.LOG_DIR = ""

# ---------------------------------------------------------------------------- #
# Demo options
# ---------------------------------------------------------------------------- #
_C.DEMO = CfgNode()
# Run the demo.
_C.DEMO.ENABLE = False
# Input video file.
_C.DEMO.INPUT_VIDEO = ""
# Class names file: a json {name: index}, or one name per line ("" = indices).
_C.DEMO.LABEL_FILE_PATH = ""
# Number of top classes printed per window.
_C.DEMO.TOP_K = 5
# Stride between sliding windows, in frames of TARGET_FPS.
_C.DEMO.WINDOW_STRIDE = 32
# Write the per-window predictions as JSON lines here ("" = OUTPUT_DIR/demo.json).
_C.DEMO.OUTPUT_FILE = ""
# Also write an mp4 here with each window's top-1 class, score and B' drawn under its frames
# (360 px short side; "" = none).
_C.DEMO.OUTPUT_VIDEO = ""


def get_cfg() -> CfgNode:
    """Return a copy of the default config."""
    return _C.clone()


def assert_and_infer_cfg(cfg: CfgNode) -> CfgNode:
    """Check keys that depend on each other and fill inferred values.

    Raises:
        ValueError: naming the key and the value at fault.
    """
    from slowfast_atfr.config.checks import check_and_infer

    return check_and_infer(cfg)
