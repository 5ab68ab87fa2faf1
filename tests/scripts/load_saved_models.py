"""Loads saved models in a fresh process and prints one JSON line per file:
its predictions on the given inputs and its optimizer's learning rate.

Usage: python load_saved_models.py ORDER INPUTS.npy MODEL.keras...
ORDER: "keras-first" (import keras, then keras_trainwatch),
"package-first" (the other way round) or "keras-only" (never import the
package).
"""

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

order, inputs, *paths = sys.argv[1:]
if order == "keras-first":
    import keras

    import keras_trainwatch
elif order == "package-first":
    import keras_trainwatch  # noqa: F401, I001

    import keras
else:
    import keras

x = np.load(inputs)
for path in paths:
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # noqa: BLE001 -- reported to the test
        print(json.dumps({"path": path, "error": str(error)[:5000]}))
        continue
    rate = schedule = None
    if model.optimizer is not None:
        rate = float(np.asarray(model.optimizer.learning_rate))
        given = model.optimizer.get_config()["learning_rate"]
        schedule = given.get("class_name") if isinstance(given, dict) else None
    print(
        json.dumps(
            {
                "path": path,
                "schedule": schedule,
                "learning_rate": rate,
                "predictions": model.predict(x, verbose=0).tolist(),
            }
        )
    )
