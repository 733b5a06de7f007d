"""What flushing subnormals does to a run's numbers: Figure 1's Gaussian network (paper preset), one seed, trained
5e4 steps four ways, and the local rank of each hidden layer at the end (the paper table's last evaluation):

* ``autograd, in full``: minibatch_step with FlatAdamW, subnormals computed (how the tables before commit 4d26b30
  were trained);
* ``autograd, flushed``: the same loop, each step inside :func:`lrc_utils.config.flush_denormals`;
* ``fit``: :func:`lrc_utils.training.fit` (its step without autograd, flushed);
* ``ensemble``: the seed as the second member of :func:`lrc_utils.ensemble.fit_ensemble` beside seed 0.

Seed 1 gave 70, 12.52, 7.50 in full and 72, 13.17, 6.84 the three other ways; seed 0 the same either way.

    python benchmarks/subnormal_flush.py --seed 1     # about 2 min on one core
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import fields

import torch
import yaml

from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.figure1.study import Params
from lrc_utils.book.chapters.panels import panel_data, panel_loss
from lrc_utils.book.paths import REPO_ROOT
from lrc_utils.config import RUN_THREADS, flush_denormals, seed_everything, torch_threads
from lrc_utils.ensemble import fit_ensemble
from lrc_utils.local_rank import local_rank
from lrc_utils.models import MLP
from lrc_utils.training import FitConfig, FlatAdamW, fit, minibatch_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (>= 1: seed 0 trains beside it)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    preset = yaml.safe_load((REPO_ROOT / "notebooks" / "figure1.paper.yaml").read_text())
    p = Params(**{k: v for k, v in preset.items() if k in {f.name for f in fields(Params)}})
    train, _, x_rank, sizes = panel_data(p, "gaussian", StudyContext(data_dir=args.data_dir))
    loss = panel_loss(p)

    def model(seed: int) -> MLP:
        seed_everything(seed)
        return MLP(sizes, "relu", init="normal")

    def config(seed: int) -> FitConfig:
        return FitConfig(steps=p.gauss_steps, lr=p.gauss_lr, weight_decay=p.gauss_weight_decay,
                         batch_size=p.batch_size, seed=seed)

    def autograd(flush: bool) -> MLP:
        net, c = model(args.seed), config(args.seed)
        opt, gen = FlatAdamW(net, c.lr, c.weight_decay), torch.Generator().manual_seed(args.seed)
        for _ in range(c.steps):
            with flush_denormals() if flush else contextlib.nullcontext():
                minibatch_step(net, opt, *train, c.batch_size, gen, loss)
        return net

    def alone() -> MLP:
        net = model(args.seed)
        fit(net, loss, train, config(args.seed), progress=False)
        return net

    def beside_seed_0() -> MLP:
        nets = [model(0), model(args.seed)]
        fit_ensemble(nets, train, [config(0), config(args.seed)], loss=p.loss, progress=False)
        return nets[1]

    with torch_threads(RUN_THREADS):
        for name, train_it in (("autograd, in full", lambda: autograd(False)),
                               ("autograd, flushed", lambda: autograd(True)), ("fit", alone),
                               ("ensemble", beside_seed_0)):
            ranks = local_rank(train_it(), x_rank, atol=p.atol).tolist()
            print(f"{name:18s} local rank at step {p.gauss_steps:,}: {', '.join(f'{r:.4g}' for r in ranks)}")


if __name__ == "__main__":
    main()
