import pytest

from cer.core.labels import BASIC, COMPOUND, PAIRS, basic_index_map, to_basic, validate_pairs


def test_basic_order_is_abaw():
    assert BASIC == ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other")


def test_compound_order_and_pairs_are_c_expr_db():
    assert COMPOUND == (
        "Fearfully_Surprised",
        "Happily_Surprised",
        "Sadly_Surprised",
        "Disgustedly_Surprised",
        "Angrily_Surprised",
        "Sadly_Fearful",
        "Sadly_Angry",
    )
    assert [PAIRS[c] for c in COMPOUND] == [
        ("Fear", "Surprise"),
        ("Happiness", "Surprise"),
        ("Sadness", "Surprise"),
        ("Disgust", "Surprise"),
        ("Anger", "Surprise"),
        ("Sadness", "Fear"),
        ("Sadness", "Anger"),
    ]
    assert not any(b in ("Neutral", "Other") for pair in PAIRS.values() for b in pair)


def test_model_labels_map_into_basic():
    assert to_basic("joy") == "Happiness"
    assert to_basic("Calm") == "Neutral"
    assert to_basic("contempt") == "Other"
    fer_labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert basic_index_map(fer_labels) == [1, 2, 3, 4, 5, 6, 0]
    with pytest.raises(ValueError, match="boredom"):
        to_basic("boredom")


def test_vocabulary_checks_name_the_bad_pair():
    with pytest.raises(ValueError, match="Happily_Bored"):
        validate_pairs({"Happily_Bored": ("Happiness", "Boredom")})
    with pytest.raises(ValueError, match="Neutrally_Surprised"):
        validate_pairs({"Neutrally_Surprised": ("Neutral", "Surprise")})
