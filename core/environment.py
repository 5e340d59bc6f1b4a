"""The CER_* environment variables, in one table, so that a misspelt one is reported instead of
silently ignored (`CER_CONCURENCY=4` would otherwise run with the default of 2).

The service's settings (CER_DATA_DIR, CER_CONCURRENCY, ...) are declared by its Settings class
and passed in by the caller (core imports nothing above it)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping

from cer.core.quiet import VERBOSE_VARIABLE
from cer.core.sources import OFFLINE_VARIABLES
from cer.core.switches import DEBUG, QUIET

CACHE_VARIABLE = "CER_CACHE"

# What cer itself reads, by name; the README's table shows the same names (a test holds it to this).
CORE_VARIABLES: dict[str, str] = {
    OFFLINE_VARIABLES[0]: "no download: only models in the cache (--offline)",
    VERBOSE_VARIABLE: "other libraries' logs on stderr (--verbose)",
    QUIET: "no progress and no notes on stderr (--quiet)",
    DEBUG: "tracebacks instead of one-line errors",
    CACHE_VARIABLE: "the model cache folder, instead of the profile's cache_dir",
}


def misspelt_variables(known: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per CER_* variable that is set but is no name cer reads, with the nearest
    name it may have meant."""
    names = sorted(known)
    warnings = []
    for name in sorted(environ if environ is not None else os.environ):
        if name.startswith("CER_") and name not in names:
            near = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            hint = f" (did you mean {near[0]}?)" if near else ""
            warnings.append(f"{name} is set, but cer reads no such variable; it is ignored{hint}")
    return warnings
