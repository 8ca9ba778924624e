"""Exit codes of the ``siamfc`` command and the error for bad user input."""
from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """A problem with the user's input: reported on one line, exit code 2."""
