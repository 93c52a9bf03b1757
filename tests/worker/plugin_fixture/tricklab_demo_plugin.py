"""A tiny third-party task as a user would ship it: torch-free metadata in one module..."""

from tricklab.catalog.params import ParamSpec
from tricklab.catalog.tasks import TRAINING_PARAMS, TaskInfo


def demo_task() -> TaskInfo:
    return TaskInfo(
        name="demo_blobs",
        title="Two Gaussian blobs (plugin)",
        kind="classification",
        input="vector",
        description="Two classes of 2-D Gaussian blobs, a user plugin task used by the engine tests.",
        params={**TRAINING_PARAMS, "width": ParamSpec(type="int", default=16, min=2)},
        metrics=["test_accuracy", "test_loss", "wall_time"],
        implementation="tricklab_demo_plugin_impl:BlobsTask",
        adversarial_methods=["fgsm", "pgd"],
    )
