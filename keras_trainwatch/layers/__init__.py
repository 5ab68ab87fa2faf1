"""Configurable Dropout / BatchNormalization factories and blocks."""

from keras_trainwatch.layers.batch_norm import (
    BatchNormConfig,
    batch_normalization,
)
from keras_trainwatch.layers.block import Block, BlockConfig, apply_block
from keras_trainwatch.layers.config import load_block_config
from keras_trainwatch.layers.dropout import DropoutConfig, dropout

__all__ = [
    "BatchNormConfig",
    "Block",
    "BlockConfig",
    "DropoutConfig",
    "apply_block",
    "batch_normalization",
    "dropout",
    "load_block_config",
]
