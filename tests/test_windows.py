import itertools

import pytest

from cer.core.windows import make_windows


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
