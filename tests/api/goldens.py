"""Golden JSON files: response shapes compared as a whole, rewritten on request (`UPDATE_GOLDEN=1`).

Rewriting makes every golden comparison pass, so it is refused under CI: a CI run must compare, never rewrite.
"""

import json
import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


class GoldenUpdateRefused(RuntimeError):
    pass


def updating_goldens() -> bool:
    """True when `UPDATE_GOLDEN` asks for the files to be rewritten; refused when `CI` is set."""
    if not os.environ.get("UPDATE_GOLDEN"):
        return False
    if os.environ.get("CI"):
        raise GoldenUpdateRefused(
            f"UPDATE_GOLDEN is set under CI={os.environ['CI']!r}: rewriting the golden files would make their "
            "tests pass whatever the code returns. Rewrite them locally, review the diff, and commit it."
        )
    return True


def check_golden(name: str, got: object, *, directory: Path = GOLDEN) -> None:
    """`got` equals the golden file `name`; with `UPDATE_GOLDEN=1` (never under CI), the file is rewritten first."""
    path = directory / name
    if updating_goldens():
        path.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(path.read_text())
