"""The colours of the compound labels, the same in timeline.png, report.html and the web page.

The web page draws its bands in JavaScript (serving/static/app.js, `BAND_COLOURS` and
`NO_LABEL_COLOUR`); these are its colours, and tests/test_outputs.py fails when the two differ.
Like the page, a vocabulary longer than the palette starts it over.
"""

from __future__ import annotations

COMPOUND_COLOURS: tuple[str, ...] = ("#c0392b", "#27ae60", "#2c6fbb", "#e67e22", "#8e44ad", "#16a085", "#7f6000", "#b03a7a", "#556b2f")
NO_LABEL_COLOUR = "#999"  # a window without a compound label: no expert spoke in it


def compound_colour(index: int) -> str:
    """The colour of the compound at `index` in the vocabulary."""
    return COMPOUND_COLOURS[index % len(COMPOUND_COLOURS)]
