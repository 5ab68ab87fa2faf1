import pytest

from keras_trainwatch import layers

pytestmark = pytest.mark.backends


EXPECTED = layers.BlockConfig(
    units=32, batch_norm={"position": "after"}, dropout={"rate": 0.2}
)


def test_from_dict_json_and_yaml_strings():
    assert (
        layers.load_block_config(
            {
                "units": 32,
                "batch_norm": {"position": "after"},
                "dropout": {"rate": 0.2},
            }
        )
        == EXPECTED
    )
    assert (
        layers.load_block_config(
            '{"units": 32, "batch_norm": {"position": "after"}, "dropout": {"rate": 0.2}}'
        )
        == EXPECTED
    )
    assert (
        layers.load_block_config(
            "units: 32\nbatch_norm:\n  position: after\ndropout:\n  rate: 0.2\n"
        )
        == EXPECTED
    )


def test_from_files(tmp_path):
    (tmp_path / "block.json").write_text(
        '{"units": 32, "batch_norm": {"position": "after"}, "dropout": 0.2}'
    )
    (tmp_path / "block.yaml").write_text(
        "units: 32\nbatch_norm: {position: after}\ndropout: 0.2\n"
    )
    assert layers.load_block_config(str(tmp_path / "block.json")) == EXPECTED
    assert layers.load_block_config(tmp_path / "block.yaml") == EXPECTED


def test_a_sweep_over_configs():
    rates = [0.0, 0.1, 0.5]
    configs = [
        layers.load_block_config({"units": 8, "dropout": rate})
        for rate in rates
    ]
    assert [len(c.make_layers(f"b{i}")) for i, c in enumerate(configs)] == [
        1,
        2,
        2,
    ]


@pytest.mark.parametrize(
    "text, match",
    [
        ("[1, 2]", "must be a mapping"),
        ("units: [", "neither JSON nor YAML"),
        ('{"units": 0}', "`units`"),
        ("dropout: 2.0", "`rate`"),
    ],
)
def test_bad_config_text_is_rejected(text, match):
    with pytest.raises(ValueError, match=match):
        layers.load_block_config(text)
