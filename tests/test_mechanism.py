"""The mechanism study (book/mechanism_design.md): its arms, and its 'ours' arm against Figure 1's own runs."""

import math
import tempfile
from pathlib import Path

import pytest
import yaml

from lrc_utils.book.chapters import StudyContext
from lrc_utils.book.chapters.figure1 import study as figure1
from lrc_utils.book.chapters.mechanism import study as mechanism

TINY = yaml.safe_load((Path(__file__).parents[1] / "notebooks" / "figure1.smoke.yaml").read_text())


def test_the_ours_arm_is_figure1_and_every_arm_records_every_measure():
    """Arm 'ours' (AdamW, weight decay 0.1, cross-entropy) trains the very runs of Figure 1 at the same parameters:
    the same training losses, and its atol rank equals Figure 1's local rank (singular values counted rather
    than the kernel's Gram matrices: equal up to rounding at the threshold). Every arm gives every measure; the
    rank on the data's subspace is at most its dimension, and NaN on MNIST (no subspace)."""
    tiny = {**TINY, "gauss_weight_decay": 0.1, "mnist_weight_decay": 0.1}
    ours = mechanism.compute(mechanism.Params(**tiny, arms=["ours", "sgd", "softmax-loss"]),
                             StudyContext(checkpoint_dir=Path(tempfile.mkdtemp())))["measures"]
    reference = figure1.compute(figure1.Params(**tiny), StudyContext(checkpoint_dir=Path(tempfile.mkdtemp())))
    reference = reference["local_rank"].set_index(["panel", "seed", "step", "layer"]).sort_index()
    arm = ours[ours.arm == "ours"].set_index(["panel", "seed", "step", "layer"]).sort_index()
    assert arm.train_loss.tolist() == reference.train_loss.tolist()
    assert arm.rank_atol.tolist() == pytest.approx(reference.local_rank.tolist(), abs=1e-9)
    assert set(ours.arm) == {"ours", "sgd", "softmax-loss"}
    assert not ours.drop(columns="rank_subspace").isna().any().any()
    gauss, mnist = ours[ours.panel == "gaussian"], ours[ours.panel == "mnist"]
    assert (gauss.rank_subspace <= tiny["gauss_intrinsic_dim"]).all() and mnist.rank_subspace.map(math.isnan).all()
    assert (ours.active_units <= max(tiny["gauss_widths"] + tiny["mnist_widths"])).all()
    assert not ours[ours.arm == "sgd"].train_loss.equals(ours[ours.arm == "softmax-loss"].train_loss)


def test_arms_are_checked_and_configured_as_the_design_says():
    p = mechanism.Params(**TINY)
    config, loss = mechanism.arm_config(p, "sgd", "mnist", 2)
    assert (config.optimizer, config.lr, config.weight_decay, config.momentum, loss) == ("sgd", 0.05, 0.0, 0.9,
                                                                                         "cross_entropy")
    config, loss = mechanism.arm_config(p, "softmax-loss", "gaussian", 0)
    assert (config.optimizer, config.weight_decay, loss) == ("adamw", 0.0, "softmax_cross_entropy")
    with pytest.raises(ValueError, match="arms must be distinct names among"):
        mechanism.Params(**TINY, arms=["ours", "adam"])
    with pytest.raises(ValueError, match="the arms set the loss"):
        mechanism.Params(**TINY, loss="softmax_cross_entropy")
