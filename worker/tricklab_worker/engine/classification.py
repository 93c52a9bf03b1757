"""The training loop for classification tasks: a plain PyTorch loop over batches indexed on the device."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor
from tricklab.schemas.run_config import RunConfig

from tricklab_worker.engine.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from tricklab_worker.engine.context import CheckpointStore, MetricSink, RunControl, TrainOutcome, notify_resume
from tricklab_worker.engine.evaluation import final_test_metrics, loss_and_accuracy, probabilities_of, robust_accuracy
from tricklab_worker.engine.gradient_norms import GradientNormSampler
from tricklab_worker.engine.hooks import FinalContext
from tricklab_worker.engine.losses import make_criterion, training_objective
from tricklab_worker.engine.metrics import MetricBuffer
from tricklab_worker.engine.options import RunOptions, build_optimizer
from tricklab_worker.engine.tasks import BaseConfig, ClassificationData
from tricklab_worker.models.classifier import Classifier

# Device-side metrics are read back every FLUSH_EVERY steps, at every evaluation, and at least every
# FLUSH_SECONDS so slow models still stream live: each read is a host sync plus Python bookkeeping,
# ~1.5% of a small CPU model's steps at every 50 (issue 7). Divergence is noticed at a read.
FLUSH_EVERY = 200
FLUSH_SECONDS = 2.0
CONTROL_EVERY = 10


@dataclass
class ClassificationRun:
    """Everything built for one classification run."""

    config: RunConfig
    base: BaseConfig
    options: RunOptions
    data: ClassificationData
    model: Classifier
    device: torch.device
    amp: bool = False


@dataclass
class LoopState:
    """The position in training that a checkpoint must restore."""

    step: int = 0
    epoch: int = 0
    position: int = 0
    permutation: Tensor | None = None
    first_layer_norm_sum: Tensor | None = None
    first_layer_norm_count: int = 0
    steps_to_target: int | None = None
    elapsed: float = 0.0


def _target_reached(config: RunConfig, target: float | None, flushed: dict[str, list[tuple[int, float]]]) -> int | None:
    """First evaluation step whose validation counterpart of the primary metric meets ``target``."""
    if target is None:
        return None
    minimize = config.metric.endswith("loss")
    for step, value in flushed.get("val_loss" if minimize else "val_accuracy", []):
        if (value <= target) if minimize else (value >= target):
            return step
    return None


def train_classification(
    run: ClassificationRun, *, sink: MetricSink, control: RunControl, checkpoint: CheckpointStore | None
) -> TrainOutcome:
    started = time.perf_counter()
    model, options, data, device, base = run.model, run.options, run.data, run.device, run.base
    criterion = make_criterion(options.loss, device)
    optimizer = build_optimizer(options.optimizer, list(model.parameters()))
    first_layer = model.first_layer_weight()
    # Looked up once: walking the module tree for the gradient list cost ~90 us a step (issue 7).
    parameters = list(model.parameters())
    first_layer_index = next((i for i, p in enumerate(parameters) if p is first_layer), None)
    gradient_norms = GradientNormSampler(parameters, first_layer_index)
    # Entering even a disabled autocast costs a few us every step; skip it unless bf16 is asked for.
    autocast = partial(torch.autocast, device.type, dtype=torch.bfloat16) if run.amp else contextlib.nullcontext
    n_train = data.train_targets.shape[0]
    batch_size = min(base.get_int("batch_size", 64), n_train)
    total_steps, steps_per_epoch = options.timing.total_steps, options.timing.steps_per_epoch
    log_every, eval_every = base.get_int("log_every", 1), base.get_int("eval_every", 0)
    grad_norm_every = base.get_int("grad_norm_every", 10)
    target = base.get_optional_float("target")
    shuffle = torch.Generator().manual_seed(run.config.seed)
    state = LoopState(first_layer_norm_sum=torch.zeros((), device=device))
    buffer = MetricBuffer(sink)
    # Appended to on every logged step, without a call per point.
    loss_steps, loss_values = buffer.tensor_column("train_loss")
    lr_steps, lr_values = buffer.float_column("lr")

    saved = load_checkpoint(checkpoint)
    resumed_from = 0
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for callback, callback_state in zip(options.callbacks, saved["callbacks"], strict=True):
            callback.load_state_dict(callback_state)
        shuffle.set_state(saved["shuffle"])
        restore_rng(saved["rng"], device)
        state = saved["loop"]
        state.permutation = None if state.permutation is None else state.permutation.to(device)
        state.first_layer_norm_sum = torch.as_tensor(state.first_layer_norm_sum, device=device)
        resumed_from = state.step
        notify_resume(control, resumed_from)

    prior_elapsed = state.elapsed  # wall time of earlier attempts, so wall_time counts all of them

    def save() -> None:
        if checkpoint is None:
            return
        state.elapsed = prior_elapsed + time.perf_counter() - started
        save_checkpoint(
            checkpoint,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "callbacks": [callback.state_dict() for callback in options.callbacks],
                "shuffle": shuffle.get_state(),
                "rng": capture_rng(device),
                "loop": state,
            },
        )

    last_flush = time.perf_counter()

    def flush() -> TrainOutcome | None:
        nonlocal last_flush
        last_flush = time.perf_counter()
        norms = gradient_norms.drain()
        if norms is not None:
            buffer.add_series("grad_norm", norms.steps, norms.totals)
            if state.first_layer_norm_sum is not None:
                # One add per sample, in step order: the same sum whenever the flushes fall, so a
                # resumed run ends with the uninterrupted run's exact mean.
                for first_layer_norm in norms.first_layer_norms:
                    state.first_layer_norm_sum = state.first_layer_norm_sum + first_layer_norm
                state.first_layer_norm_count += len(norms.first_layer_norms)
        flushed, divergence = buffer.flush()
        control.set_progress(state.step / total_steps)
        if state.steps_to_target is None:
            state.steps_to_target = _target_reached(run.config, target, flushed)
        if divergence is not None:
            return TrainOutcome("diverged", error=divergence.message(), resumed_from_step=resumed_from)
        return None

    model.train()
    applied_lr: float | None = None  # set on the first step, also after a resume
    while state.step < total_steps:
        if state.permutation is None or state.position + batch_size > n_train:
            state.permutation = torch.randperm(n_train, generator=shuffle).to(device)
            state.position = 0
        index = state.permutation[state.position : state.position + batch_size]
        state.position += batch_size
        state.step += 1
        step = state.step
        lr = options.lr_at(step)
        if lr != applied_lr:  # constant between schedule changes: no write per step
            for group in optimizer.param_groups:
                group["lr"] = lr
            applied_lr = lr

        inputs, targets = data.train_inputs[index], data.train_targets[index]
        with autocast():
            features = model.embed(inputs)
            loss = criterion(model.classify(features), targets)
            if options.adversarial is not None:
                adversarial = _adversarial_features(model, options, features, targets, criterion)
                loss = loss + options.adversarial.weight * criterion(model.classify(adversarial), targets)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(training_objective(loss, options.loss))
        if step % log_every == 0:
            loss_steps.append(step)
            loss_values.append(loss.detach())
            lr_steps.append(step)
            lr_values.append(lr)
        if step % grad_norm_every == 0:
            gradient_norms.sample(step)
        optimizer.step()
        for callback in options.callbacks:
            callback.on_step_end(step, model)

        epoch_end = step % steps_per_epoch == 0
        if epoch_end:
            state.epoch += 1
        evaluate = (step % eval_every == 0) if eval_every else epoch_end
        if evaluate or step == total_steps:
            val_loss, val_accuracy = loss_and_accuracy(model, data.val_inputs, data.val_targets)
            buffer.add("val_loss", step, val_loss)
            buffer.add("val_accuracy", step, val_accuracy)
        if (
            evaluate
            or step % FLUSH_EVERY == 0
            or step == total_steps
            or time.perf_counter() - last_flush >= FLUSH_SECONDS
        ):
            outcome = flush()
            if outcome is not None:
                return outcome
        if checkpoint is not None and checkpoint.due(step, epoch_end=epoch_end, final=step == total_steps):
            if outcome := flush():
                return outcome
            save()
        if step % CONTROL_EVERY == 0 and control.should_stop():
            flush()
            return TrainOutcome("cancelled", error=f"cancelled at step {step}", resumed_from_step=resumed_from)

    final = _final_metrics(run, state)
    final["wall_time"] = prior_elapsed + time.perf_counter() - started
    control.set_progress(1.0)
    return TrainOutcome("succeeded", final_metrics=final, resumed_from_step=resumed_from)


def _adversarial_features(
    model: Classifier, options: RunOptions, features: Tensor, targets: Tensor, criterion: Any
) -> Tensor:
    """Attack the current model in eval mode so the attack's extra passes do not move BatchNorm statistics."""
    assert options.adversarial is not None
    was_training = model.training
    model.eval()
    try:
        return options.adversarial.adversary.perturb(model.classify, features.detach(), targets, criterion)
    finally:
        model.train(was_training)


def _final_metrics(run: ClassificationRun, state: LoopState) -> dict[str, float]:
    model, data, base = run.model, run.data, run.base
    final = final_test_metrics(model, data.test_inputs, data.test_targets, data.minority_classes)
    final["robust_accuracy"] = robust_accuracy(
        model,
        data.test_inputs,
        data.test_targets,
        epsilon=base.get_float("eval_attack_epsilon", 0.1),
        steps=base.get_int("eval_attack_steps", 20),
        seed=run.config.seed,
        bounds=data.input_range,
    )
    assert state.first_layer_norm_sum is not None
    final["first_layer_grad_norm"] = float(state.first_layer_norm_sum.item()) / max(1, state.first_layer_norm_count)
    context = FinalContext(model, data.test_inputs, data.test_targets, probabilities_of)
    for callback in run.options.callbacks:
        final.update(callback.final_metrics(context))
    if state.steps_to_target is not None:
        final["steps_to_target"] = float(state.steps_to_target)
    return final
