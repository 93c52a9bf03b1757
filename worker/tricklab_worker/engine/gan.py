"""The GAN training loop: n_critic critic steps per generator step, the objective chosen by tricks.

The default objective is the standard non-saturating GAN; the wgan trick swaps in its own. G/D
architectures, z size, batch size and generator steps do not depend on the objective.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tricklab.schemas.run_config import RunConfig

from tricklab_worker.engine.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from tricklab_worker.engine.context import CheckpointStore, MetricSink, RunControl, TrainOutcome, notify_resume
from tricklab_worker.engine.metrics import MetricBuffer
from tricklab_worker.engine.options import GanObjective, RunOptions, build_optimizer
from tricklab_worker.engine.tasks import BaseConfig, GanTask

CONTROL_EVERY = 10
FLUSH_EVERY = 50
SCORE_SEED_OFFSET = 10_007


class NonSaturatingObjective:
    """Goodfellow et al.'s GAN with the non-saturating generator loss -log D(G(z))."""

    n_critic = 1

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        real_logits, fake_logits = critic(real), critic(fake)
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    def generator_loss(self, critic: nn.Module, fake: Tensor) -> Tensor:
        logits = critic(fake)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def after_critic_step(self, critic: nn.Module) -> None:
        """Nothing to do after a standard discriminator step."""


@dataclass
class GanRun:
    config: RunConfig
    base: BaseConfig
    options: RunOptions
    task: GanTask
    generator: nn.Module
    critic: nn.Module
    device: torch.device


def _score(run: GanRun, *, seed: int) -> dict[str, float]:
    """Scores of a fixed latent sample, so evaluations differ only by the generator's weights."""
    z_dim = run.base.get_int("z_dim", 2)
    latent = torch.randn(run.base.get_int("eval_samples", 2500), z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        samples = run.generator(latent.to(run.device))
    return run.task.score(run.base, samples)


def train_gan(
    run: GanRun, *, sink: MetricSink, control: RunControl, checkpoint: CheckpointStore | None
) -> TrainOutcome:
    started = time.perf_counter()
    base, options, device, task = run.base, run.options, run.device, run.task
    generator, critic = run.generator, run.critic
    objective: GanObjective = options.gan_objective or NonSaturatingObjective()
    optimizer_g = build_optimizer(options.optimizer, list(generator.parameters()))
    optimizer_d = build_optimizer(options.optimizer, list(critic.parameters()))
    total_steps = options.timing.total_steps
    batch_size, z_dim = base.get_int("batch_size", 256), base.get_int("z_dim", 2)
    log_every, grad_norm_every = base.get_int("log_every", 1), base.get_int("grad_norm_every", 10)
    eval_every = base.get_int("eval_every", 0) or max(1, total_steps // 10)
    target = base.get_optional_float("target")
    score_seed = run.config.seed + SCORE_SEED_OFFSET
    buffer = MetricBuffer(sink)
    step, critic_steps, prior_elapsed, steps_to_target, resumed_from = 0, 0, 0.0, None, 0

    saved = load_checkpoint(checkpoint)
    if saved is not None:
        generator.load_state_dict(saved["generator"])
        critic.load_state_dict(saved["critic"])
        optimizer_g.load_state_dict(saved["optimizer_g"])
        optimizer_d.load_state_dict(saved["optimizer_d"])
        restore_rng(saved["rng"], device)
        step, critic_steps, prior_elapsed = saved["step"], saved["critic_steps"], saved["elapsed"]
        steps_to_target = saved["steps_to_target"]
        resumed_from = step
        notify_resume(control, resumed_from)

    generator.train()
    critic.train()
    while step < total_steps:
        step += 1
        lr = options.lr_at(step)
        for group in [*optimizer_g.param_groups, *optimizer_d.param_groups]:
            group["lr"] = lr
        for _ in range(objective.n_critic):
            real = task.sample_real(base, batch_size, device)
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, z_dim, device=device))
            d_loss = objective.critic_loss(critic, real, fake)
            optimizer_d.zero_grad(set_to_none=True)
            torch.autograd.backward(d_loss)
            optimizer_d.step()
            objective.after_critic_step(critic)
            critic_steps += 1
        g_loss = objective.generator_loss(critic, generator(torch.randn(batch_size, z_dim, device=device)))
        optimizer_g.zero_grad(set_to_none=True)
        torch.autograd.backward(g_loss)
        if step % log_every == 0:
            buffer.add("d_loss", step, d_loss)
            buffer.add("g_loss", step, g_loss)
            buffer.add("lr", step, lr)
            buffer.add("critic_steps", step, float(critic_steps))
        if step % grad_norm_every == 0:
            gradients = [p.grad for p in generator.parameters() if p.grad is not None]
            buffer.add("grad_norm", step, torch.nn.utils.get_total_norm(gradients))
        optimizer_g.step()

        if step % eval_every == 0 or step == total_steps:
            scores = _score(run, seed=score_seed)
            for key in ("modes_covered", "hq_share"):
                buffer.add(key, step, scores[key])
            if target is not None and steps_to_target is None and scores["modes_covered"] >= target:
                steps_to_target = step
        if step % FLUSH_EVERY == 0 or step % eval_every == 0 or step == total_steps:
            _, divergence = buffer.flush()
            control.set_progress(step / total_steps)
            if divergence is not None:
                return TrainOutcome("diverged", error=divergence.message(), resumed_from_step=resumed_from)
        if checkpoint is not None and checkpoint.due(step, epoch_end=False, final=step == total_steps):
            buffer.flush()
            save_checkpoint(
                checkpoint,
                {
                    "generator": generator.state_dict(),
                    "critic": critic.state_dict(),
                    "optimizer_g": optimizer_g.state_dict(),
                    "optimizer_d": optimizer_d.state_dict(),
                    "rng": capture_rng(device),
                    "step": step,
                    "critic_steps": critic_steps,
                    "elapsed": prior_elapsed + time.perf_counter() - started,
                    "steps_to_target": steps_to_target,
                },
            )
        if step % CONTROL_EVERY == 0 and control.should_stop():
            buffer.flush()
            return TrainOutcome("cancelled", error=f"cancelled at step {step}", resumed_from_step=resumed_from)

    final = _score(run, seed=score_seed)
    final["critic_steps"] = float(critic_steps)
    final["wall_time"] = prior_elapsed + time.perf_counter() - started
    if steps_to_target is not None:
        final["steps_to_target"] = float(steps_to_target)
    control.set_progress(1.0)
    return TrainOutcome("succeeded", final_metrics=final, resumed_from_step=resumed_from)
