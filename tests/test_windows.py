import itertools

import pytest

from cer.core.windows import analysed_part, make_windows


def spans(duration, **kw):
    return [(w.start_s, w.end_s) for w in make_windows(duration, 30.0, int(duration * 30), **kw)]


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (0.5, [(0.0, 0.5)]),
        (3.0, [(0.0, 3.0)]),
        (4.0, [(0.0, 4.0)]),
        (5.0, [(0.0, 4.0), (2.0, 5.0)]),
        (7.9, [(0.0, 4.0), (2.0, 6.0), (4.0, 7.9)]),
    ],
)
def test_window_spans(duration, expected):
    assert spans(duration) == expected


def test_sixty_seconds():
    got = spans(60.0)
    assert len(got) == 29
    assert got[0] == (0.0, 4.0) and got[-1] == (56.0, 60.0)
    assert all(b[0] - a[0] == 2.0 for a, b in itertools.pairwise(got))


def test_short_tail_is_dropped_without_overlap():
    # with hop == length the tail rule decides: 0.5 s is too short, 1.5 s is kept
    assert spans(8.5, hop_s=4.0) == [(0.0, 4.0), (4.0, 8.0)]
    assert spans(9.5, hop_s=4.0) == [(0.0, 4.0), (4.0, 8.0), (8.0, 9.5)]


def test_frame_ranges():
    windows = make_windows(5.0, 30.0, 150)
    assert [(w.start_frame, w.end_frame) for w in windows] == [(0, 120), (60, 150)]
    assert [w.index for w in windows] == [0, 1]


def test_empty_video_has_no_windows():
    assert make_windows(0.0, 30.0, 0) == []


def test_a_part_is_windowed_on_the_video_s_own_clock():
    windows = make_windows(20.0, 10.0, 200, span=(3.0, 9.5))
    assert [(w.start_s, w.end_s) for w in windows] == [(3.0, 7.0), (5.0, 9.0), (7.0, 9.5)]
    assert [(w.start_frame, w.end_frame) for w in windows] == [(30, 70), (50, 90), (70, 95)]
    assert analysed_part(20.0, 3.0, 9.5) == (3.0, 9.5)
    assert analysed_part(20.0, 5.0, 99.0) == (5.0, 20.0)  # an end past the video's is its end
    assert analysed_part(20.0, 0.0, None) is None and analysed_part(20.0, 0.0, 20.0) is None  # the whole video
    with pytest.raises(ValueError, match=r"--start 25 s is at or past the video's end \(20.00 s\)"):
        analysed_part(20.0, 25.0)
    with pytest.raises(ValueError, match="--start 5 and --end 5 name no part"):
        analysed_part(20.0, 5.0, 5.0)
