"""The values of each config key that names one of several implementations, defined once.

`checks.DOMAINS` refuses any other value before a run starts, and the module that
implements the choices (named above each tuple) checks its argument against the same
tuple. The config sits below those modules, so the tuples live here and they import them.
"""

# ATFR.STAGE: the stages after which models/video_model.py can place the sampler (Table 6).
SAMPLER_STAGES = ("stem", "res2", "res3", "res4")
# ATFR.KERNEL: the sampling kernels of models/atfr/sgs.py, "linear" (Eq. 6) and "kronecker"
# (Eq. 5).
SGS_KERNELS = ("linear", "kronecker")
# ATFR.MEASURE: the similarity measures of models/atfr/similarity.py.
SIMILARITY_MEASURES = ("magnitude", "angular", "spherical", "mean_distance")
# ATFR.SIMILARITY_NET: the similarity networks of models/atfr/similarity.py.
SIMILARITY_NETS = ("conv", "mlp_bn")
# ATFR.TRAIN_BATCHING and ATFR.EVAL_BATCHING: the batchings of models/varlen/run.py.
TRAIN_BATCHINGS = ("packed", "padded")
EVAL_BATCHINGS = ("grouped", "packed", "padded")
# BN.NORM_TYPE: the norm layers of models/norm_helper.py.
NORM_TYPES = ("batchnorm", "sub_batchnorm", "sync_batchnorm")
# MODEL.EVAL_OUTPUT: what models/build.py's models return in eval mode.
EVAL_OUTPUTS = ("logits", "probabilities")
# SOLVER.LR_POLICY: the policies of solver/lr_policy.py.
LR_POLICIES = ("cosine", "steps_with_relative_lrs", "constant")
# SOLVER.OPTIMIZING_METHOD: the optimizers of solver/optimizer.py.
OPTIMIZING_METHODS = ("sgd", "adam", "adamw")
# DATA.ENSEMBLE_METHOD: how evaluation/view_ensemble.py combines a video's views.
ENSEMBLE_METHODS = ("sum", "max")
