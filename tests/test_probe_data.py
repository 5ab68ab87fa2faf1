import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_trainwatch.probe import ProbeBatch


def test_tuple_of_arrays_becomes_tensors_in_floatx():
    batch = ProbeBatch.from_data((np.zeros((4, 3)), np.arange(4)))
    assert batch.x.dtype == tf.float32
    assert batch.y.dtype == tf.int64
    assert batch.sample_weight is None
    assert batch.size == 4


def test_sample_weights_and_dict_inputs():
    x = {"a": np.zeros((5, 2), "float32"), "b": np.ones((5, 1), "float32")}
    batch = ProbeBatch.from_data((x, np.zeros(5), np.ones(5)))
    assert set(batch.x) == {"a", "b"}
    assert batch.sample_weight.shape == (5,)


def test_dataset_gives_its_first_batch():
    data = tf.data.Dataset.from_tensor_slices(
        (np.arange(10.0)[:, None], np.arange(10))
    ).batch(4)
    batch = ProbeBatch.from_data(data)
    np.testing.assert_array_equal(batch.y.numpy(), [0, 1, 2, 3])


def test_py_dataset_gives_batch_zero():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full((2, 3), i, "float32"), np.full((2,), i)

    batch = ProbeBatch.from_data(Batches())
    assert batch.size == 2
    assert float(tf.reduce_sum(batch.x)) == 0.0


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((4, 3)), TypeError, "`probe_data` must be a tuple"),
        ((np.zeros((4, 3)), np.zeros(5)), ValueError, "same number of samples"),
        ((np.zeros((0, 3)), np.zeros(0)), ValueError, "empty"),
        ((1.0, 2.0), ValueError, "batched arrays"),
        ((1, 2, 3, 4), TypeError, "Received: probe_data of type tuple"),
        (
            tf.data.Dataset.from_tensor_slices(np.zeros((0, 2))),
            ValueError,
            "empty tf.data.Dataset",
        ),
    ],
)
def test_bad_probe_data_is_rejected_with_a_clear_message(bad, error, match):
    with pytest.raises(error, match=match):
        ProbeBatch.from_data(bad)
