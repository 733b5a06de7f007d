"""Benchmark: lrc_utils.local_rank against the public recipe and a per-sample autograd loop.

On the same inputs, in one run: times each method, checks that all give identical per-sample ranks, and
prints the speed-up ratios. Then, on the CPU or a CUDA device, it prints local_rank's throughput and the
ratio of its time to that of one plain float32 matrix multiply of the same FLOP count (the "floor"),
each timed right after the other and repeated (``--repeats``), since timings on a shared machine are noisy.

FLOPs are counted as in :func:`dense_flops`: the arithmetic of the chain-rule kernel without dropping
inactive units (chain products, float64 Gram matrices, one ``LDL^T`` per matrix), which is a fixed
measure of the problem's size. The kernel drops the units of layer 1 whose activation derivative is
zero, so for a ReLU network it performs less than that; :func:`reduced_flops` counts what it still has
to do (per input, with its own number of active units; padding to a chunk's largest number not
counted). The benchmark prints the rates and floor ratios for both counts.

    python benchmarks/local_rank.py                      # MLP([784, 200, 200, 200, 200, 10]), 1,024 inputs
    python benchmarks/local_rank.py --n 256 --device cuda
    python benchmarks/local_rank.py --loop-n 128         # the autograd loop on the first 128 inputs only
    python benchmarks/local_rank.py --floor-only         # only local_rank against the float32 matmul floor

The model is trained for a few hundred steps on random labels first (``--train-steps``), so that its
Jacobians are not those of a fresh initialisation.
"""

from __future__ import annotations

import argparse
import time

import torch

from lrc_utils import MLP, get_device, local_rank, seed_everything
from lrc_utils.local_rank_reference import time_methods


def dense_flops(model: MLP, n: int) -> float:
    """FLOPs (a multiply-add is 2) of the dense chain-rule kernel for ``n`` inputs, layers 2 onwards: per
    layer the chain product ``W_l (D A_{l-1})`` (``2 width_l width_{l-1} r``), the float64 Gram matrix
    (``2 k^2 max(width_l, r)``, ``k = min(width_l, r)``) and one ``LDL^T`` (``k^3 / 3``), where
    ``r = min(width_1, input_dim)``. Layer 1 (counted once per call), the forward pass and elementwise
    work are not counted."""
    return reduced_flops(model, torch.full((n,), min(model.hidden_widths[0], model.input_dim)))


def reduced_flops(model: MLP, n_active: torch.Tensor) -> float:
    """:func:`dense_flops` with ``r`` replaced, per input, by ``min(r, n_active)``: the number of units of
    layer 1 with a nonzero activation derivative (``[N]``). This is the arithmetic local_rank performs
    after dropping inactive units, less the padding of each chunk to its largest count."""
    widths = model.hidden_widths
    r = torch.clamp(n_active.to(torch.float64), max=min(widths[0], model.input_dim))
    flops = torch.zeros_like(r)
    for prev, width in zip(widths[:-1], widths[1:]):
        k = torch.clamp(r, max=width)
        flops += 2 * width * prev * r + 2 * k * k * torch.clamp(r, min=width) + k**3 / 3
    return float(flops.sum())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_seconds(flops: float, device: torch.device) -> float:
    """Seconds of one float32 ``[size, size] @ [size, size]`` with ``2 size^3 = flops`` (after a warm-up)."""
    size = max(64, int(round((flops / 2) ** (1 / 3))))
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    a @ b
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1024, help="number of inputs")
    parser.add_argument("--loop-n", type=int, default=None, help="inputs for the autograd loop (default: --n)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[784, 200, 200, 200, 200, 10])
    parser.add_argument("--atol", type=float, default=1e-2)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="side-by-side timings against the matmul floor")
    parser.add_argument("--floor-only", action="store_true",
                        help="only the timings against the matmul floor (no recipe, no autograd loop)")
    args = parser.parse_args()

    device = get_device(args.device)
    seed_everything(args.seed)
    model = MLP(args.sizes).to(device)
    x = torch.randn(args.n, args.sizes[0], device=device)
    if args.train_steps:
        labels = torch.randint(0, args.sizes[-1], (args.n,), device=device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(args.train_steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), labels).backward()
            opt.step()
    print(f"model {args.sizes}, {args.n} inputs, atol {args.atol}, device {device}, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}")

    if not args.floor_only:
        results = time_methods(model, x, ("local_rank", "recipe"), atol=args.atol)
        loop_n = args.loop_n or args.n
        loop_seconds, loop_ranks = time_methods(model, x[:loop_n], ("loop",), atol=args.atol)["loop"]
        fast_seconds, fast_ranks = results["local_rank"]
        recipe_seconds, recipe_ranks = results["recipe"]
        assert torch.equal(fast_ranks, recipe_ranks), "local_rank and the recipe disagree"
        assert torch.equal(fast_ranks[:loop_n], loop_ranks), "local_rank and the autograd loop disagree"
        mean = fast_ranks.double().mean(0).tolist()
        print(f"ranks identical across all three methods; local rank per layer: {[round(v, 2) for v in mean]}")
        loop_scaled = loop_seconds * args.n / loop_n
        print(f"{'method':<14}{'seconds':>10}{'ratio to local_rank':>22}")
        print(f"{'local_rank':<14}{fast_seconds:>10.2f}{1.0:>22.1f}")
        print(f"{'recipe':<14}{recipe_seconds:>10.2f}{recipe_seconds / fast_seconds:>22.1f}")
        note = "" if loop_n == args.n else f"  (timed on {loop_n}, scaled to {args.n})"
        print(f"{'autograd loop':<14}{loop_scaled:>10.2f}{loop_scaled / fast_seconds:>22.1f}{note}")
    dense = dense_flops(model, args.n)
    with torch.no_grad():
        n_active = (model.act_derivative(model.preactivations(x)[0]) != 0).sum(1).cpu()
    reduced = reduced_flops(model, n_active)
    print(f"\nlocal_rank against one float32 matmul of the same FLOPs ({device}), {args.repeats} repeats side by side:")
    print(f"dense-kernel FLOPs {dense / 1e9:.1f} G; with the {n_active.double().mean():.1f} active units of "
          f"layer 1 (mean of {min(model.hidden_widths[0], model.input_dim)}) {reduced / 1e9:.1f} G")
    print(f"{'repeat':<8}{'seconds':>9}{'inputs/s':>10}{'dense GFLOP/s':>15}{'reduced GFLOP/s':>17}"
          f"{'/ dense floor':>15}{'/ reduced floor':>17}")
    dense_ratios, reduced_ratios = [], []
    for repeat in range(args.repeats):
        synchronize(device)
        start = time.perf_counter()
        local_rank(model, x, atol=args.atol)
        synchronize(device)
        seconds = time.perf_counter() - start
        dense_ratios.append(seconds / matmul_seconds(dense, device))
        reduced_ratios.append(seconds / matmul_seconds(reduced, device))
        print(f"{repeat + 1:<8}{seconds:>9.3f}{args.n / seconds:>10,.0f}{dense / seconds / 1e9:>15.1f}"
              f"{reduced / seconds / 1e9:>17.1f}{dense_ratios[-1]:>14.2f}x{reduced_ratios[-1]:>16.2f}x")
    median = len(dense_ratios) // 2
    print(f"median: local_rank takes {sorted(dense_ratios)[median]:.2f}x the time of one float32 matmul of the dense "
          f"kernel's FLOPs, {sorted(reduced_ratios)[median]:.2f}x that of one of the reduced FLOPs")

if __name__ == "__main__":
    main()
