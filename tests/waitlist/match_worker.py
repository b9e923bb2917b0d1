"""A matching worker for race tests: runs matching passes over one clinic until told to stop.

It calls the matching service directly (not through the job runner, whose advisory lock would
let only one run at a time), so two of these really race; the clinic calendar lock and the
database constraints must keep them apart.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(clinic_id: int, stop_file: str, seconds: float) -> None:
    from scheduler import create_app
    from scheduler.services import matching

    app = create_app()
    deadline = time.monotonic() + seconds
    made = 0
    with app.app_context():
        while time.monotonic() < deadline and not Path(stop_file).exists():
            made += matching.match_clinic(clinic_id)
            time.sleep(0.05)
    print(made)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
