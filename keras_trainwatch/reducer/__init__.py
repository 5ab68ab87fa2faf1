"""The `AutoLRReducer` callback and the pieces only it uses.

`callback` (the coordinator), `plateau` (`ReduceLROnPlateau`'s rule),
`reactions` (which findings call for a reduction), `rollback` (the last
healthy state), `divergence` (non-finite losses), `announce` (messages and
TensorBoard) and `state_file` (resuming after an interruption).
"""

from keras_trainwatch.learning_rate import Reduction
from keras_trainwatch.reducer.callback import AutoLRReducer
from keras_trainwatch.reducer.divergence import TrainingDivergedError

__all__ = ["AutoLRReducer", "Reduction", "TrainingDivergedError"]
