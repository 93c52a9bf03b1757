"""The trick catalog: canonical names, parameters, conflicts and applicability.

This is the contract the API, the form, ``tricklab tricks`` and the worker's
implementations share. The worker registers one implementation per name here;
a test asserts the two registries agree.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tricklab.catalog.params import ParamSpec

TaskKind = Literal["classification", "gan"]
TaskInput = Literal["vector", "image", "tokens", "points"]


class TrickInfo(BaseModel):
    """A binary factor: "off" is the task's base config, "on" applies the trick with its params."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    family: str
    description: str
    paper: str
    params: dict[str, ParamSpec]
    conflicts: list[str] = []
    applies_to: list[TaskKind]
    inputs: list[TaskInput] | None = None
    one_of: list[list[str]] = []


def _p(type_: str, default: object, description: str, **kw: object) -> ParamSpec:
    return ParamSpec.model_validate({"type": type_, "default": default, "description": description, **kw})


TRICKS: dict[str, TrickInfo] = {
    t.name: t
    for t in [
        TrickInfo(
            name="cyclic_lr",
            title="Cyclic LR with warm restarts + snapshot ensemble",
            family="schedule",
            description=(
                "Cosine annealing from the base lr down to lr_min, restarted every cycle "
                "(lr = (lr0-lr_min)/2 * (cos(pi * (t mod T)/T) + 1) + lr_min). The model is "
                "snapshotted at the end of every cycle and the snapshots' averaged softmax is "
                "evaluated as an ensemble (snapshot_ensemble_accuracy) beside the final model."
            ),
            paper="Loshchilov & Hutter, SGDR (ICLR 2017); Huang et al., Snapshot Ensembles (ICLR 2017)",
            params={
                "cycle_epochs": _p(
                    "float", 2.0, "cycle length in epochs (ignored when cycle_steps is set)", min=0, min_exclusive=True
                ),
                "cycle_steps": _p(
                    "int", None, "cycle length in optimizer steps (overrides cycle_epochs)", min=1, nullable=True
                ),
                "lr_min": _p("float", 0.0, "lowest learning rate of each cycle", min=0),
                "snapshots": _p("int", 0, "snapshots kept for the ensemble (0 = every cycle end)", min=0),
            },
            one_of=[["cycle_epochs", "cycle_steps"]],
            applies_to=["classification"],
        ),
        TrickInfo(
            name="focal_loss",
            title="Focal loss",
            family="loss",
            description=(
                "Multi-class focal loss -alpha_t (1-p_t)^gamma log p_t: down-weights easy "
                "examples so training concentrates on hard ones. gamma=0 and no alpha is "
                "exactly cross-entropy. alpha is either one weight per class or, with "
                "alpha_minority, the weight of the minority class (the others get 1-alpha). "
                "With label_smoothing, the focal term is applied to the smoothed targets: "
                "sum_c q_c (1-p_c)^gamma (-log p_c)."
            ),
            paper="Lin et al., Focal Loss for Dense Object Detection (ICCV 2017)",
            params={
                "gamma": _p("float", 2.0, "focusing parameter", min=0, max=10),
                "alpha": _p("float_list", None, "per-class weights", min=0, nullable=True),
                "alpha_minority": _p(
                    "float", None, "weight of the minority class (others 1-alpha)", min=0, max=1, nullable=True
                ),
            },
            one_of=[["alpha", "alpha_minority"]],
            applies_to=["classification"],
        ),
        TrickInfo(
            name="warmup",
            title="Linear learning-rate warmup",
            family="schedule",
            description=(
                "The learning rate rises linearly from 0 to the scheduled value over the first "
                "steps (lr_t = lr * t / warmup_steps), then follows the base schedule (or cyclic_lr). "
                "Multiplies any schedule."
            ),
            paper="Goyal et al., Accurate, Large Minibatch SGD (2017)",
            params={
                "epochs": _p(
                    "float", 1.0, "warmup length in epochs (ignored when steps is set)", min=0, min_exclusive=True
                ),
                "steps": _p("int", None, "warmup length in optimizer steps (overrides epochs)", min=1, nullable=True),
            },
            one_of=[["epochs", "steps"]],
            applies_to=["classification", "gan"],
        ),
        TrickInfo(
            name="flooding",
            title="Flooding",
            family="loss",
            description=(
                "Trains on |loss - b| + b: plain descent while the training loss is above the "
                "flood level b, ascent below it, so the loss floats around b."
            ),
            paper="Ishida et al., Do We Need Zero Training Loss After Achieving Zero Training Error? (ICML 2020)",
            params={"b": _p("float", 0.05, "flood level", min=0)},
            applies_to=["classification"],
        ),
        TrickInfo(
            name="dropout",
            title="Dropout",
            family="regularization",
            description="Zeroes hidden activations with probability p during training (inverted dropout).",
            paper="Srivastava et al., Dropout (JMLR 2014)",
            params={"p": _p("float", 0.2, "drop probability", min=0, max=0.95)},
            applies_to=["classification"],
        ),
        TrickInfo(
            name="batch_norm",
            title="Batch normalization",
            family="normalization",
            description=(
                "Normalizes each hidden unit over the mini-batch (running statistics at eval "
                "time), inserted after every hidden linear/conv layer."
            ),
            paper="Ioffe & Szegedy, Batch Normalization (ICML 2015)",
            params={"momentum": _p("float", 0.1, "running-statistics momentum", min=0, max=1)},
            conflicts=["group_norm"],
            applies_to=["classification"],
        ),
        TrickInfo(
            name="group_norm",
            title="Group normalization",
            family="normalization",
            description=(
                "Normalizes each sample over groups of channels, independent of the batch size, "
                "inserted after every hidden linear/conv layer. groups must divide the width."
            ),
            paper="Wu & He, Group Normalization (ECCV 2018)",
            params={"groups": _p("int", 4, "number of channel groups", min=1)},
            conflicts=["batch_norm"],
            applies_to=["classification"],
        ),
        TrickInfo(
            name="label_smoothing",
            title="Label smoothing",
            family="loss",
            description=(
                "Trains against soft targets (1-eps) * onehot + eps / K instead of hard labels. "
                "Composes with focal_loss (the smoothed targets enter the focal term)."
            ),
            paper="Szegedy et al., Rethinking the Inception Architecture (CVPR 2016)",
            params={"epsilon": _p("float", 0.1, "smoothing mass", min=0, max=1, min_exclusive=False)},
            applies_to=["classification"],
        ),
        TrickInfo(
            name="relu",
            title="ReLU activation",
            family="activation",
            description=(
                "ReLU instead of the base activation (sigmoid or tanh). Weight init follows the "
                "activation (Kaiming for ReLU, Xavier for sigmoid/tanh) unless the base config "
                "pins `init`: deep ReLU nets with PyTorch's default init also fail to train."
            ),
            paper="Nair & Hinton (ICML 2010); Glorot et al., Deep Sparse Rectifier Networks (AISTATS 2011)",
            params={},
            applies_to=["classification", "gan"],
        ),
        TrickInfo(
            name="radam",
            title="RAdam optimizer",
            family="optimizer",
            description=(
                "Rectified Adam (torch.optim.RAdam) instead of the base optimizer, with the same "
                "learning rate and weight decay: Adam whose adaptive step is switched on only "
                "once the variance of the second-moment estimate is tractable."
            ),
            paper="Liu et al., On the Variance of the Adaptive Learning Rate and Beyond (ICLR 2020)",
            params={
                "beta1": _p("float", 0.9, "first-moment decay", min=0, max=1, min_exclusive=False),
                "beta2": _p("float", 0.999, "second-moment decay", min=0, max=1),
            },
            applies_to=["classification", "gan"],
        ),
        TrickInfo(
            name="adversarial",
            title="Adversarial training",
            family="adversarial",
            description=(
                "Trains on clean + adversarial loss. fgsm/pgd perturb the inputs within an "
                "L-inf ball of radius epsilon (PGD: `steps` steps of size `alpha`, random start); "
                "fgm perturbs the embedding output by epsilon * g / ||g|| (token tasks)."
            ),
            paper="Goodfellow et al. (ICLR 2015); Madry et al. (ICLR 2018); Miyato et al. (ICLR 2017)",
            params={
                "method": _p("choice", "pgd", "attack used for training", choices=["fgsm", "pgd", "fgm"]),
                "epsilon": _p("float", 0.1, "perturbation radius (fgm default in the seed: 0.5)", min=0),
                "steps": _p("int", 7, "PGD steps", min=1, max=100),
                "alpha": _p("float", None, "PGD step size (default 2.5 * epsilon / steps)", min=0, nullable=True),
                "weight": _p("float", 1.0, "weight of the adversarial loss term", min=0),
            },
            applies_to=["classification"],
        ),
        TrickInfo(
            name="wgan",
            title="Wasserstein GAN",
            family="gan",
            description=(
                "Wasserstein critic loss instead of the standard non-saturating GAN loss. "
                "variant clip: weights clipped to [-clip, clip], RMSprop; variant gp: gradient "
                "penalty gp_lambda * (||grad D(x_hat)|| - 1)^2, Adam betas (0.5, 0.9). n_critic "
                "critic steps per generator step."
            ),
            paper="Arjovsky et al., Wasserstein GAN (ICML 2017); Gulrajani et al., WGAN-GP (NeurIPS 2017)",
            params={
                "variant": _p("choice", "gp", "weight clipping or gradient penalty", choices=["clip", "gp"]),
                "clip": _p("float", 0.01, "weight clipping bound", min=0, min_exclusive=True),
                "gp_lambda": _p("float", 10.0, "gradient-penalty weight", min=0),
                "n_critic": _p("int", 5, "critic steps per generator step", min=1, max=50),
            },
            applies_to=["gan"],
        ),
        TrickInfo(
            name="skip_connection",
            title="Skip connections (residual blocks)",
            family="architecture",
            description=(
                "Hidden layers become residual blocks F(x) + x of the same depth and width "
                "(a linear/1x1 projection where shapes change), so a deep net can fall back "
                "to the identity."
            ),
            paper="He et al., Deep Residual Learning (CVPR 2016)",
            params={},
            applies_to=["classification", "gan"],
        ),
    ]
}

TRICK_NAMES: tuple[str, ...] = tuple(TRICKS)
