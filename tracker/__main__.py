"""``python -m tracker`` runs the ``siamfc`` command."""
from .cli import main

raise SystemExit(main())
