"""Figure 1: readings of the study's tables (pure functions: tables in, tables or text out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...readings import (  # noqa: F401 (Figure 1's criterion, read from here by its notebook and tests)
    fall_start,
    first_step_at_accuracy,
    power_text,
    reaches_accuracy,
    terminal_phase_falls,
    terminal_phase_falls_per_seed,
)


def describe_terminal_phase(falls: pd.DataFrame) -> str:
    """Markdown bullets, one per (panel, layer) of :func:`terminal_phase_falls`: maximum, last value, verdict."""
    lines = []
    for _, r in falls.iterrows():
        verdict = "falls in the terminal phase" if r["falls in terminal phase"] else "**does not fall by 10%**"
        lines.append(f"* {r.panel}, layer {r.layer}: {r['max']:.1f} at its maximum, {r['last']:.1f} at the last "
                     f"step ({r['fall from max (%)']:.0f}% lower): {verdict}.")
    return "\n".join(lines)


#: The first author's public code (for a later paper): its learning rate and weight decay, which the prose
#: compares with ours.
PUBLIC_LR, PUBLIC_WEIGHT_DECAY = 1e-4, 0.01


def full_rank_until(rows: pd.DataFrame, width: int) -> int | None:
    """The last step of the initial stretch of recorded steps at which every seed of ``rows`` (one panel and
    layer) has local rank ``width``; ``None`` if the first step already falls short."""
    ranks = rows.groupby("step").local_rank.min().sort_index()
    short = ranks[ranks < width]
    full = ranks if short.empty else ranks[ranks.index < short.index.min()]
    return int(full.index.max()) if len(full) else None


def _or_nan(step: int | None) -> float | int:
    """A step, or NaN where there is none (a layer that never falls): never another step in its place."""
    return np.nan if step is None else step


def prose_numbers(table: pd.DataFrame, p, mark_step: int, drop: float = 0.1,
                  threshold: float = 0.99) -> dict[str, float | int | str]:
    """The numbers Figure 1's prose quotes, from the ``local_rank`` table, the notebook's parameters ``p`` (MNIST
    and Gaussian panel settings, ``atol``), the step ``mark_step`` marked in the MNIST panel (the length of our
    earlier runs) and the criterion of :func:`terminal_phase_falls` (``drop``, ``threshold``). Keys (``fig1_``
    prefix; steps are training steps, ranks seed means unless said):

    * ``mnist_fit_step``, ``gauss_fit_step``: the first step with seed-mean training accuracy >= ``threshold``.
    * ``fall_decades_min``, ``fall_decades_max``: over the deeper layers (2 on) of both panels, log10 of the
      step at which the rank starts to fall (:func:`fall_start`: ``drop`` below its maximum after the fit)
      over the fit step; ``fall_start_min``, ``fall_start_max``: those steps.
    * ``falls_md``: which layers fall in the terminal phase (:func:`terminal_phase_falls`), a phrase;
      ``falls_seeds_md``: the same criterion on every seed's own curve, a phrase.
    * ``gauss_l1_max``, ``gauss_l1_last``: the Gaussian first layer's rank at its maximum after the fit and at
      the last step; ``gauss_l1_fall_start``: the step at which it starts to fall.
    * ``mnist_l1_full_until``: the last step of the first stretch at which every seed's first MNIST layer has
      full rank (the first width, :func:`full_rank_until`).
    * ``mark_step``: the last recorded step <= ``mark_step``; ``mnist_l1_at_mark_md``: the first MNIST layer's
      rank there, per seed (a phrase); ``mnist_deep_at_mark``: the largest seed-mean rank of the deeper MNIST
      layers there.
    * ``lr_factor``, ``wd_factor``: the MNIST panel's learning rate and weight decay over the public code's
      (:data:`PUBLIC_LR`, :data:`PUBLIC_WEIGHT_DECAY`); ``public_factor_md``: the two as a phrase ("10 times").
    * ``shrink_md``: the per-step factor of pure weight decay, ``1 − lr·wd`` (text);
      ``decay_steps_md``: ln(1 / atol) / (lr x wd), the steps it takes to bring a singular value from 1 to
      ``atol`` (text, with the formula's numbers); ``public_eta_lambda_md``, ``public_decay_steps_md``: the
      same product and steps with the public code's settings (text).
    * ``unfed_directions``: Gaussian input dimension - intrinsic dimension (input directions without data).
    """
    fit = {panel: first_step_at_accuracy(table[table.panel == panel], threshold) for panel in ("gaussian", "mnist")}
    deep = [(panel, fall_start(rows, fit[panel], drop)) for (panel, layer), rows in table.groupby(["panel", "layer"])
            if layer >= 2]
    starts = [start for _, start in deep if start is not None]
    decades = [np.log10(start / fit[panel]) for panel, start in deep if start is not None]
    falls = terminal_phase_falls(table, drop, threshold)
    n_falls = int(falls["falls in terminal phase"].sum())
    per_seed = terminal_phase_falls_per_seed(table, drop, threshold)
    n_seed_falls = int(per_seed["falls in terminal phase"].sum())
    gauss1, mnist = table[(table.panel == "gaussian") & (table.layer == 1)], table[table.panel == "mnist"]
    gauss1_mean = gauss1.groupby("step").local_rank.mean()
    marked = mnist.step[mnist.step <= mark_step]
    mark = int(marked.max()) if len(marked) else int(mnist.step.min())  # a run shorter than the mark: its first
    at_mark = mnist[mnist.step == mark]
    first_at_mark = at_mark[at_mark.layer == 1].local_rank
    lo, hi = first_at_mark.min(), first_at_mark.max()
    eta_lambda = p.mnist_lr * p.mnist_weight_decay
    public = PUBLIC_LR * PUBLIC_WEIGHT_DECAY
    lr_factor, wd_factor = p.mnist_lr / PUBLIC_LR, p.mnist_weight_decay / PUBLIC_WEIGHT_DECAY
    return {
        "fig1_mnist_fit_step": int(fit["mnist"]), "fig1_gauss_fit_step": int(fit["gaussian"]),
        # nan where no deeper layer falls (a short run): the prose's numbers say "not measured" rather than fail
        "fig1_fall_decades_min": float(min(decades, default=np.nan)),
        "fig1_fall_decades_max": float(max(decades, default=np.nan)),
        "fig1_fall_start_min": min(starts, default=np.nan), "fig1_fall_start_max": max(starts, default=np.nan),
        "fig1_falls_md": ("every layer of both panels" if n_falls == len(falls)
                          else f"{n_falls} of the {len(falls)} layers of the two panels"),
        "fig1_falls_seeds_md": ("every layer falls, in every seed" if n_seed_falls == len(per_seed)
                                else f"{n_seed_falls} of the {len(per_seed)} (seed, layer) curves fall"),
        "fig1_gauss_l1_max": float(gauss1_mean[gauss1_mean.index >= fit["gaussian"]].max()),
        "fig1_gauss_l1_last": float(gauss1_mean.iloc[-1]),
        "fig1_gauss_l1_fall_start": _or_nan(fall_start(gauss1, fit["gaussian"], drop)),
        "fig1_mnist_l1_full_until": _or_nan(full_rank_until(mnist[mnist.layer == 1], int(p.mnist_widths[0]))),
        "fig1_mark_step": mark,
        "fig1_mnist_l1_at_mark_md": (f"at rank {lo:.0f} in every seed" if lo == hi
                                     else f"at rank {lo:.0f} to {hi:.0f} across seeds"),
        "fig1_mnist_deep_at_mark": float(at_mark[at_mark.layer >= 2].groupby("layer").local_rank.mean().max()),
        "fig1_lr_factor": float(lr_factor), "fig1_wd_factor": float(wd_factor),
        "fig1_public_factor_md": (f"{lr_factor:g} times" if lr_factor == wd_factor
                                  else f"{lr_factor:g} and {wd_factor:g} times"),
        "fig1_shrink_md": f"1 \u2212 {power_text(eta_lambda)}",
        "fig1_decay_steps_md": (f"ln({1 / p.atol:g})/{power_text(eta_lambda)} \u2248 "
                                f"{power_text(np.log(1 / p.atol) / eta_lambda)}"),
        "fig1_public_eta_lambda_md": power_text(public),
        "fig1_public_decay_steps_md": power_text(np.log(1 / p.atol) / public),
        "fig1_unfed_directions": int(p.gauss_input_dim - p.gauss_intrinsic_dim),
    }


def recipes_side_by_side(tables: dict[str, pd.DataFrame], drop: float = 0.1, threshold: float = 0.99
                         ) -> pd.DataFrame:
    """One row per (panel, hidden layer) of several recipes' ``local_rank`` tables (name -> table, as
    :func:`terminal_phase_falls` reads): for each recipe the seed-mean rank at its maximum and at the last step,
    and that function's verdict under the same ``drop`` and ``threshold``."""
    merged = None
    for name, table in tables.items():
        falls = terminal_phase_falls(table, drop, threshold)
        part = pd.DataFrame({"panel": falls.panel, "layer": falls.layer, f"{name}: max": falls["max"],
                             f"{name}: last": falls["last"], f"{name}: falls": falls["falls in terminal phase"]})
        merged = part if merged is None else merged.merge(part, on=["panel", "layer"], how="outer")
    return merged


def _layers_phrase(falls: pd.DataFrame) -> str:
    """The (panel, layer) rows of :func:`terminal_phase_falls` that fall, as a phrase."""
    parts = []
    for panel, rows in falls[falls["falls in terminal phase"]].groupby("panel", sort=False):
        layers = [str(v) for v in rows.layer]
        listed = layers[0] if len(layers) == 1 else ", ".join(layers[:-1]) + " and " + layers[-1]
        parts.append(f"{'layer' if len(layers) == 1 else 'layers'} {listed} of the {panel} panel")
    return " and ".join(parts) if parts else "no layer"


def _fall_starts_phrase(table: pd.DataFrame, falls: pd.DataFrame, fit: dict[str, int], drop: float) -> str:
    """For each falling (panel, layer) of :func:`terminal_phase_falls`: the step at which it starts to fall
    (:func:`fall_start`), and the panel's last recorded step."""
    parts = []
    for panel, rows in falls[falls["falls in terminal phase"]].groupby("panel", sort=False):
        steps = table[table.panel == panel]
        starts = [f"layer {layer} at step {fall_start(steps[steps.layer == layer], fit[panel], drop):,d}"
                  for layer in rows.layer]
        parts.append(f"{panel}: {', '.join(starts)} (last recorded step {int(steps.step.max()):,d})")
    return "; ".join(parts) if parts else "no layer falls"


def _hours_phrase(info: dict) -> str:
    """The stored wall time in hours; where the store did not count the attempts (older results), it says the
    number is that of the last attempt only."""
    hours = f"{info.get('wall_time_s', float('nan')) / 3600:.1f} h"
    attempts = info.get("attempts")
    if attempts is None:
        return f"{hours} in its last attempt (earlier, interrupted attempts were not counted)"
    return hours if attempts == 1 else f"{hours} over {attempts} attempts"


#: What the chapter shows where preset ``author`` is not stored.
AUTHOR_NOT_STORED = ("Preset `author` is not stored under this results folder: run `python -m lrc_utils.book.runner "
                     "figure1 --preset author --cluster local:2` to compute it.")


def author_prose_numbers(stored: tuple[pd.DataFrame, dict] | None, drop: float = 0.1,
                         threshold: float = 0.99) -> dict[str, str]:
    """The numbers the prose on the first author's recipe quotes (``fig1a_`` prefix, all Markdown text), from
    the ``author`` preset's stored ``local_rank`` table and its ``meta.json`` entry (``stored``, as
    :meth:`lrc_utils.book.notebook.NotebookRun.stored_table` returns it; ``None``: not stored, every value says
    so). Keys: ``lr``, ``wd``, ``eta_lambda`` (their product), ``steps`` (MNIST panel), ``decay_md``
    (``exp(-lr·wd·steps)``, what pure weight decay leaves of an undriven weight), ``loss``, ``falls_md`` (the
    layers that fall by :func:`terminal_phase_falls`, seed means), ``falls_seeds_md`` (per seed), ``fit_md``
    (first steps at ``threshold`` training accuracy), ``last_md`` (last training accuracy and cross-entropy of
    the logits, MNIST), ``fall_starts_md`` (where each falling layer starts to fall, :func:`fall_start`, against
    the last recorded step), ``hours_md`` (wall time, over all attempts where the store counted them),
    ``commit``; where nothing is stored, also the figure's glue keys ``figure1_author`` and
    ``figure1_author_provenance`` with a note in its place."""
    keys = ("lr", "wd", "eta_lambda", "steps", "decay_md", "loss", "falls_md", "falls_seeds_md", "fit_md",
            "last_md", "fall_starts_md", "hours_md", "commit")
    if stored is None:  # every number says so, and so does the figure's place (its glue:figure)
        return {**{f"fig1a_{k}": "(not stored)" for k in keys}, "figure1_author": AUTHOR_NOT_STORED,
                "figure1_author_provenance": "not stored"}
    table, info = stored
    p = info["parameters"]
    falls = terminal_phase_falls(table, drop, threshold)
    per_seed = terminal_phase_falls_per_seed(table, drop, threshold)
    n_curves, n_seed_falls = len(per_seed), int(per_seed["falls in terminal phase"].sum())
    fit = {panel: first_step_at_accuracy(table[table.panel == panel], threshold) for panel in ("gaussian", "mnist")}
    reached = {panel: bool(reaches_accuracy(table[table.panel == panel].groupby("step").train_acc.mean().max(),
                                            threshold)) for panel in fit}
    last = table[(table.panel == "mnist") & (table.step == table[table.panel == "mnist"].step.max())]
    eta_lambda = p["mnist_lr"] * p["mnist_weight_decay"]
    return {
        "fig1a_lr": power_text(p["mnist_lr"]), "fig1a_wd": power_text(p["mnist_weight_decay"]),
        "fig1a_eta_lambda": power_text(eta_lambda), "fig1a_steps": power_text(p["mnist_steps"]),
        "fig1a_decay_md": f"{np.exp(-eta_lambda * p['mnist_steps']):.2f}",
        "fig1a_loss": p.get("loss", "cross_entropy").replace("_", "-"),
        "fig1a_falls_md": ("every layer of both panels" if falls["falls in terminal phase"].all()
                           else _layers_phrase(falls) + f" (of the {len(falls)} layers)"),
        "fig1a_falls_seeds_md": f"{n_seed_falls} of the {n_curves} (seed, layer) curves",
        "fig1a_fit_md": "; ".join(f"{panel}: step {fit[panel]:,d}" if reached[panel]
                                  else f"{panel}: never (mean training accuracy stays below {threshold:.0%})"
                                  for panel in fit),
        "fig1a_last_md": (f"training accuracy {last.train_acc.mean():.3f}, cross-entropy of the logits "
                          f"{power_text(last.train_loss.mean())} nats"),
        "fig1a_fall_starts_md": _fall_starts_phrase(table, falls, fit, drop),
        "fig1a_hours_md": _hours_phrase(info),
        "fig1a_commit": str(info.get("git_commit", ""))[:7],
    }
