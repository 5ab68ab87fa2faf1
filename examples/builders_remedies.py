"""The model builders with and without the remedies: a 20-layer sigmoid MLP
shows vanishing gradients; the same builder with its defaults (ReLU, He
initialization) plus batch normalization trains, with no finding.

    python examples/builders_remedies.py
"""

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
from before_after import before_after

from keras_trainwatch.datasets import load_digits
from keras_trainwatch.models import build_mlp


def deep_mlp(**remedies):
    return build_mlp(
        (64,),
        10,
        widths=32,
        depth=20,
        dropout=0.0,
        compile=True,
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        **remedies,
    )


def main(epochs=5):
    return before_after(
        (
            "build_mlp(depth=20, activation='sigmoid')",
            lambda: deep_mlp(activation="sigmoid"),
        ),
        (
            "build_mlp(depth=20, batch_norm=True): ReLU, He init, batch norm",
            lambda: deep_mlp(batch_norm=True),
        ),
        load_digits(),
        epochs,
        batch_size=32,
    )


if __name__ == "__main__":
    main()
