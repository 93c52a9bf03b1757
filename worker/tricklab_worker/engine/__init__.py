"""The training engine: ``train_run`` trains one run of an experiment."""

from tricklab_worker.engine.context import CheckpointStore, MetricSink, RunControl, TrainOutcome
from tricklab_worker.engine.options import ConfigError
from tricklab_worker.engine.run import train_run

__all__ = ["CheckpointStore", "ConfigError", "MetricSink", "RunControl", "TrainOutcome", "train_run"]
