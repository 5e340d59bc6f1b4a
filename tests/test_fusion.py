import math

import numpy as np
import pytest
import torch

from cer.core.frames import frame_labels, spread_to_frames
from cer.core.labels import BASIC, PAIRS
from cer.fusion.compound import ppa, to_compound
from cer.fusion.mhpf import MHPF, fuse

HAPPY = BASIC.index("Happiness")


def onehot(name):
    p = [0.0] * 8
    p[BASIC.index(name)] = 1.0
    return p


def test_equal_weights_give_the_mean_of_present_experts():
    rng = np.random.default_rng(1)
    probs = {name: (rng.dirichlet(np.ones(8))).tolist() for name in "abc"}
    fused = fuse(MHPF(list("abc"), heads=3), probs)
    assert fused.probs == pytest.approx(np.mean([probs[n] for n in "abc"], axis=0).tolist())
    assert sum(fused.probs) == pytest.approx(1.0)
    missing = fuse(MHPF(list("abc")), {**probs, "b": None})
    assert missing.experts_present == ["a", "c"]
    assert missing.probs == pytest.approx(np.mean([probs["a"], probs["c"]], axis=0).tolist())


def test_unequal_weights_and_a_missing_expert_match_a_hand_computed_example():
    module = MHPF(list("abc"), heads=2)
    with torch.no_grad():
        module.W[0] = torch.log(torch.tensor([1.0, 2.0, 1.0]))[:, None].expand(3, 8)
        module.W[0, :, HAPPY] = torch.log(torch.tensor([1.0, 1.0, 3.0]))
        module.W[1] = 0.0
        module.B.copy_(torch.log(torch.tensor([3.0, 1.0])))  # head mixing 0.75 / 0.25
    p_a = [0.5, 0, 0, 0, 0.5, 0, 0, 0]
    fused = fuse(module, {"a": p_a, "b": None, "c": onehot("Happiness")})
    # With b absent, head 0 weighs a:c as 1:1 (Neutral) and 1:3 (Happiness); head 1 as 1:1.
    # a: Neutral 0.75*0.5 + 0.25*0.5 = 0.5; Happiness 0.75*0.25 + 0.25*0.5 = 0.3125; c: 0.5 and 0.6875.
    assert fused.weights["a"][0] == pytest.approx(0.5)
    assert fused.weights["a"][HAPPY] == pytest.approx(0.3125)
    assert fused.weights["c"][HAPPY] == pytest.approx(0.6875)
    assert "b" not in fused.weights
    # Neutral 0.5*0.5 = 0.25; Happiness 0.3125*0.5 + 0.6875*1 = 0.84375; renormalised by 1.09375
    expected = [0.0] * 8
    expected[0], expected[HAPPY] = 0.25 / 1.09375, 0.84375 / 1.09375
    assert fused.probs == pytest.approx(expected)


def test_no_expert_present_gives_no_fusion():
    fused = fuse(MHPF(["a", "b"]), {"a": None, "b": None})
    assert fused.probs is None and fused.experts_present == []


def test_weights_file_round_trip_and_unknown_experts(tmp_path):
    module = MHPF(["a", "b"], heads=3)
    with torch.no_grad():
        module.W.normal_()
    path = tmp_path / "weights.json"
    module.save(path)
    loaded = MHPF.load(path, ["b", "a", "new"])
    assert torch.allclose(loaded.W[:, 0], module.W[:, 1]) and torch.allclose(loaded.W[:, 1], module.W[:, 0])
    assert torch.all(loaded.W[:, 2] == 0)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"weights.json"):
        MHPF.load(path, ["a"])


def test_ppa_worked_example():
    p = [0.1, 0.05, 0.05, 0.1, 0.4, 0.05, 0.2, 0.05]
    result = ppa(p, PAIRS)
    assert result.scores == pytest.approx([0.3, 0.6, 0.25, 0.25, 0.25, 0.15, 0.1])
    assert result.label == "Happily_Surprised"
    assert result.confidence == pytest.approx(0.6)
    assert result.pair == ("Happiness", "Surprise") and result.pair_probs == pytest.approx((0.4, 0.2))


def test_pfsa_without_embeddings_falls_back_to_ppa_and_says_so():
    p = [0.1, 0.05, 0.05, 0.1, 0.4, 0.05, 0.2, 0.05]
    result = to_compound(p, PAIRS, "pfsa")
    assert result.label == "Happily_Surprised" and "PPA" in result.note


def test_a_faint_second_part_reads_basic_only_but_the_forced_compound_stays():
    smile = [0.1, 0.01, 0.01, 0.01, 0.85, 0.01, 0.0003, 0.0097]  # a plain smile: Surprise 0.0003
    result = to_compound(smile, PAIRS, "ppa", basic_only_below=0.1)
    assert result.label == "Happily_Surprised" and result.basic_only == "Happiness"
    blend = [0.05, 0.02, 0.02, 0.03, 0.5, 0.03, 0.3, 0.05]
    assert to_compound(blend, PAIRS, "ppa", basic_only_below=0.1).basic_only is None
    assert to_compound(smile, PAIRS, "ppa").basic_only is None  # 0: the rule is off


def test_a_temperature_flattens_one_expert_before_the_fusion():
    soft = [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.65, 0.05]
    sharp = [0.001] * 8
    sharp[HAPPY] = 1 - 0.007
    plain = fuse(MHPF(["clip", "face"]), {"clip": sharp, "face": soft})
    tempered = fuse(MHPF(["clip", "face"], temperatures={"clip": 4.0}), {"clip": sharp, "face": soft})
    assert sum(tempered.probs) == pytest.approx(1.0)
    assert tempered.probs[HAPPY] < plain.probs[HAPPY]  # the sharp expert no longer decides alone
    assert MHPF(["clip"], temperatures={"clip": 4.0}).temperatures == {"clip": 4.0}
    assert fuse(MHPF(["clip", "face"], temperatures={"clip": 1.0}), {"clip": sharp, "face": soft}).probs == pytest.approx(plain.probs)


def test_windows_spread_to_frames_with_overlap_averaging():
    scores = np.array([[0.6, 0.4], [0.2, 0.8]])
    frames = spread_to_frames([(0, 4), (2, 6)], scores, n_frames=7)
    assert frames[2] == pytest.approx([0.4, 0.6])  # overlap: mean of both windows
    assert np.isnan(frames[6]).all()  # no window covers the last frame
    assert frame_labels(frames).tolist() == [0, 0, 1, 1, 1, 1, 1]  # uncovered frame takes the previous label
    assert math.isclose(frames[0, 0], 0.6)
