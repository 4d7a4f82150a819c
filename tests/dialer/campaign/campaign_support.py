"""Values shared by the campaign tests (imported by name; not a test module)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

MINIMAL = """\
id: spring
caller_id: "+861012345678"
trunk:
  endpoint: "PJSIP/{number}@customers"
safe_harbour:
  message: demo-thanks
"""

WriteFile = Callable[..., Path]
