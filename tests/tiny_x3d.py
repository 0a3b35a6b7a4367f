"""A tiny X3D config shared by tests outside tests/models (2 classes, narrow, dense 3x3x3)."""

from slowfast_atfr.config.defaults import get_cfg


def tiny_x3d_cfg(atfr: bool = True):
    """X3D with DIM_C1 8 and DIM_C5 32; with `atfr`, SGS after res2 keeping up to T bins."""
    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.MODEL.ARCH, cfg.MODEL.MODEL_NAME, cfg.MODEL.NUM_CLASSES = "x3d", "X3D", 2
    cfg.RESNET.TRANS_FUNC = "x3d_transform"
    cfg.X3D.DIM_C1, cfg.X3D.DIM_C5 = 8, 32
    # Depthwise conv3d is very slow on CPU; dense 3x3x3 convs keep the tests fast.
    cfg.X3D.CHANNELWISE_3x3x3 = False
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    cfg.ATFR.ENABLED = atfr
    cfg.ATFR.PATHWAYS, cfg.ATFR.NUM_BINS_TRAIN = [True], [-1]
    cfg.ATFR.NUM_BINS_TEST, cfg.ATFR.BLOCK_LENGTH = [-1], [0]
    return cfg
