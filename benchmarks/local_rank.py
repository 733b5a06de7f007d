"""Benchmark: lrc_utils.local_rank against the public recipe and a per-sample autograd loop.

On the same inputs, in one run: times each method, checks that all give identical per-sample ranks, and
prints the speed-up ratios. On a CUDA device it also prints the throughput and the ratio to a plain
float32 matrix multiply of the same FLOP count.

    python benchmarks/local_rank.py                      # MLP([784, 200, 200, 200, 200, 10]), 1,024 inputs
    python benchmarks/local_rank.py --n 256 --device cuda
    python benchmarks/local_rank.py --loop-n 128         # the autograd loop on the first 128 inputs only

The model is trained for a few hundred steps on random labels first (``--train-steps``), so that its
Jacobians are not those of a fresh initialisation.
"""

from __future__ import annotations

import argparse
import time

import torch

from lrc_utils import MLP, get_device, local_rank, seed_everything
from lrc_utils.local_rank_reference import time_methods


def fast_path_flops(model: MLP, n: int) -> float:
    """Multiply-add FLOPs of local_rank's fast path: chain products, float64 Gram, LDL^T."""
    widths, r = model.hidden_widths, min(model.hidden_widths[0], model.input_dim)
    flops = 0.0
    for prev, width in zip(widths[:-1], widths[1:]):
        k = min(width, r)
        flops += n * (2 * width * prev * r + 2 * k * k * max(width, r) + k**3 / 3)
    return flops


def matmul_seconds(flops: float, device: torch.device) -> float:
    size = max(64, int(round((flops / 2) ** (1 / 3))))
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    a @ b
    torch.cuda.synchronize(device)
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
    if device.type == "cuda":
        flops = fast_path_flops(model, args.n)
        reps = 5
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(reps):
            local_rank(model, x, atol=args.atol)
        torch.cuda.synchronize(device)
        seconds = (time.perf_counter() - start) / reps
        print(f"GPU: {args.n / seconds:,.0f} inputs/s; {flops / seconds / 1e12:.2f} TFLOP/s; "
              f"{seconds / matmul_seconds(flops, device):.1f}x the time of a float32 matmul of the same FLOPs")


if __name__ == "__main__":
    main()
