"""The TensorFlow probe: `tf.GradientTape` in one `tf.function`, under `tf.distribute`."""
