"""Run the tiny model's training (and test) in a fresh process, like tools/run_net.py.

    python engine_run.py OUTPUT_DIR INIT_METHOD [KEY VALUE ...]

With ENGINE_RUN_DUMP_STATES=1 every rank saves its final model state to
OUTPUT_DIR/rank<r>_state.pt. With ENGINE_RUN_KILL_AFTER=N the process SIGKILLs itself after
its N-th training iteration (counted from the start of this process), after that iteration's
hooks ran; ENGINE_RUN_SIGNAL=TERM (or INT) sends that signal to its process group instead
(start it in a session of its own).
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import engine_tiny  # noqa: E402
import torch  # noqa: E402

from slowfast_atfr.engine import hooks  # noqa: E402
from slowfast_atfr.engine.evaluator import test  # noqa: E402
from slowfast_atfr.engine.launch import launch_job  # noqa: E402
from slowfast_atfr.engine.preemption import TrainingInterrupted  # noqa: E402
from slowfast_atfr.engine.setup import default_setup  # noqa: E402
from slowfast_atfr.engine.trainer import Trainer, default_hooks  # noqa: E402
from slowfast_atfr.utils import distributed as du  # noqa: E402


class KillAfter(hooks.HookBase):
    def __init__(self, n, signum):
        self.n, self.done, self.signum = n, 0, signum

    def after_step(self):
        self.done += 1
        if self.done == self.n and self.signum == signal.SIGKILL:
            os.kill(os.getpid(), self.signum)
        elif self.done == self.n:  # to the whole job, loader workers too, as a terminal does
            os.killpg(os.getpgid(0), self.signum)


def train_job(cfg):
    default_setup(cfg, "train")
    hook_list = default_hooks()
    kill_after = int(os.environ.get("ENGINE_RUN_KILL_AFTER", "0"))
    if kill_after:
        signum = getattr(signal, "SIG" + os.environ.get("ENGINE_RUN_SIGNAL", "KILL"))
        hook_list.append(KillAfter(kill_after, signum))
    trainer = Trainer(cfg, hook_list)
    trainer.train()
    if os.environ.get("ENGINE_RUN_DUMP_STATES"):
        state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        torch.save(state, os.path.join(cfg.OUTPUT_DIR, f"rank{du.get_rank()}_state.pt"))


def main():
    out, init_method, opts = sys.argv[1], sys.argv[2], sys.argv[3:]
    cfg = engine_tiny.tiny_cfg(out, **dict(zip(opts[0::2], opts[1::2])))
    if cfg.TRAIN.ENABLE:
        try:
            launch_job(cfg.clone(), init_method, train_job)
        except TrainingInterrupted as err:  # as tools/run_net.py
            sys.exit(err.exit_code)
    if cfg.TEST.ENABLE:
        launch_job(cfg.clone(), init_method, test)


if __name__ == "__main__":
    main()
