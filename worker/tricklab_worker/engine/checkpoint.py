"""Saving and restoring a run's full training state atomically (temp file + os.replace)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tricklab_worker.engine.context import CheckpointStore


def capture_rng(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(store: CheckpointStore, state: dict[str, Any]) -> None:
    """Write ``state`` next to the checkpoint and swap it in, so a crash never leaves a half-written file."""
    if store.before_save is not None and not store.before_save():
        return  # the previous checkpoint stays, consistent with what was stored
    store.directory.mkdir(parents=True, exist_ok=True)
    temporary = store.path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, store.path)
    store.last_saved = time.monotonic()


def load_checkpoint(store: CheckpointStore | None) -> dict[str, Any] | None:
    """The saved state, on the CPU (load_state_dict moves it onto the model's device); None when there is none."""
    if store is None or not Path(store.path).exists():
        return None
    # Our own file (written by save_checkpoint); it holds RNG states that weights_only cannot load.
    state: dict[str, Any] = torch.load(store.path, map_location="cpu", weights_only=False)
    return state
