"""Model builders that apply the known remedies by default."""

from keras_trainwatch.models.cnn import build_cnn
from keras_trainwatch.models.mlp import build_mlp
from keras_trainwatch.models.residual import build_residual_mlp
from keras_trainwatch.models.task import TASKS, compile_for_task

__all__ = [
    "TASKS",
    "build_cnn",
    "build_mlp",
    "build_residual_mlp",
    "compile_for_task",
]
