"""Benchmark: local rank of named layers of a small CNN, lrc_utils against the usual recipe.

The usual recipe for the local rank of a layer of any model: a per-sample function returning the layer's output
(here by a forward hook), ``torch.func.vmap(torch.func.jacrev(...))`` over the inputs, one layer at a time, then
``torch.linalg.matrix_rank(J, atol=atol)`` on the stacked ``[N, out, in]`` Jacobians (an SVD of each).
``lrc_utils.local_rank(model, x, layers=[...])`` computes the Jacobians of all named layers in one vectorised
pass (forward or reverse mode, whichever needs fewer passes) and counts singular values above ``atol`` through the
float64 Gram matrix of each Jacobian's smaller side, with no SVD. On the same inputs, in one run: both methods
timed (``--repeats``, the best of each, interleaved), their per-input ranks compared (they must be identical),
and the ratio printed.

    python benchmarks/named_layers.py                 # 16 MNIST-sized inputs, conv1, conv2, fc1
    python benchmarks/named_layers.py --n 256 --repeats 3 --device cuda

The CNN (1x28x28 -> conv 8 -> pool -> conv 16 -> pool -> 64 -> 10, ReLU) is trained for a few steps on random
labels first (``--train-steps``), so that its Jacobians are not those of a fresh initialisation.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from lrc_utils import get_device, local_rank, seed_everything

LAYERS = ["conv1", "conv2", "fc1"]


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)
        self.pool, self.act = nn.MaxPool2d(2), nn.ReLU()

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        return self.fc2(self.act(self.fc1(x.flatten(1))))


def recipe_ranks(model: nn.Module, x: torch.Tensor, atol: float) -> torch.Tensor:
    """The usual recipe: per layer, vmap(jacrev) of the per-sample layer output, then matrix_rank. int64 [N, L]."""
    from torch.func import jacrev, vmap

    modules = dict(model.named_modules())
    columns = []
    for name in LAYERS:
        def output(xi: torch.Tensor, name: str = name) -> torch.Tensor:
            got = []
            handle = modules[name].register_forward_hook(lambda _m, _i, o: got.append(o))
            try:
                model(xi[None])
            finally:
                handle.remove()
            return got[0][0].reshape(-1)

        jac = vmap(jacrev(output))(x).reshape(len(x), -1, x[0].numel())
        columns.append(torch.linalg.matrix_rank(jac, atol=atol).cpu())
    return torch.stack(columns, dim=1)


def best_seconds(fn, device: torch.device, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16, help="inputs (the recipe takes minutes per 16 on a CPU)")
    parser.add_argument("--atol", type=float, default=1e-2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=200)
    args = parser.parse_args()
    if args.n < 1 or args.repeats < 1 or args.train_steps < 0 or args.atol < 0:
        parser.error("--n and --repeats must be >= 1, --train-steps and --atol >= 0")
    device = get_device(args.device)
    seed_everything(0)
    model = SmallCNN().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(args.train_steps):
        xb, yb = torch.randn(64, 1, 28, 28, device=device), torch.randint(0, 10, (64,), device=device)
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimiser.step()
    model.eval()
    x = torch.randn(args.n, 1, 28, 28, device=device)
    print(f"SmallCNN on {device}, {args.n} inputs of 1x28x28, layers {LAYERS}, atol {args.atol:g}, "
          f"{torch.get_num_threads()} torch threads; best of {args.repeats}")
    ours_s, recipe_s = float("inf"), float("inf")
    for _ in range(args.repeats):  # interleaved, so that both see the same machine
        s, ours = best_seconds(lambda: local_rank(model, x, layers=LAYERS, atol=args.atol), device, 1)
        ours_s = min(ours_s, s)
        s, recipe = best_seconds(lambda: recipe_ranks(model, x, args.atol), device, 1)
        recipe_s = min(recipe_s, s)
    identical = torch.equal(ours.per_input, recipe)
    print(f"  lrc_utils.local_rank(layers=...)   {ours_s:8.3f} s   mean ranks {ours.local_rank.tolist()}")
    print(f"  vmap(jacrev) + matrix_rank        {recipe_s:8.3f} s")
    print(f"  per-input ranks identical: {identical}; lrc_utils is {recipe_s / ours_s:.1f}x faster")
    if not identical:
        raise SystemExit("the two methods disagree on some rank")


if __name__ == "__main__":
    main()
