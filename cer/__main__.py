"""`python -m cer` is the `cer` command."""

import sys

from cer.cli import main

sys.exit(main())
