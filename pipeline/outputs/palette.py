"""The colours of the decisions (compound labels, basic classes), the same in timeline.png,
report.html and the web page.

The web page draws its bands in JavaScript (serving/static/app.js, `BAND_COLOURS`,
`BASIC_COLOURS` and `NO_LABEL_COLOUR`); these are its colours, and tests/test_outputs.py
fails when the two differ.
Like the page, a vocabulary longer than the palette starts it over.
"""

from __future__ import annotations

COMPOUND_COLOURS: tuple[str, ...] = ("#c0392b", "#27ae60", "#2c6fbb", "#e67e22", "#8e44ad", "#16a085", "#7f6000", "#b03a7a", "#556b2f")
# One colour per basic class, in BASIC order, chosen to be telling (Anger red, Sadness blue...).
BASIC_COLOURS: tuple[str, ...] = ("#9e9e9e", "#d62728", "#6b8e23", "#9467bd", "#ffbf00", "#1f77b4", "#17becf", "#8c564b")
NO_LABEL_COLOUR = "#999"  # a window without a compound label: no expert spoke in it


def compound_colour(index: int) -> str:
    """The colour of the compound at `index` in the vocabulary."""
    return COMPOUND_COLOURS[index % len(COMPOUND_COLOURS)]
