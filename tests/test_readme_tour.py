"""The README's API tour runs as written against a freshly served demo.

Every ``bash`` block of the README's "API tour" section is run in order by bash, with the demo's
real key and port put in. Each curl call reports its HTTP status; a call whose line ends in a
comment that starts with a status (``# 409 …``) must answer exactly that, every other call a
2xx or 3xx. Any command that fails stops the tour (``set -euo pipefail``).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.support.demo_server import ROOT, served_demo

STATUS_MARK = "TOUR-STATUS"
# curl >= 7.63 can write --write-out to stderr, so the tour's own pipes see only the body.
CURL_WRAPPER = f"""
curl() {{ command curl --write-out '%{{stderr}}{STATUS_MARK} %{{http_code}}\\n' "$@"; }}
"""


def tour_section(readme: str) -> str:
    start = readme.index("\n## API tour")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end != -1 else None]


def bash_blocks(section: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def expected_statuses(script: str) -> list[int | None]:
    """One entry per curl command, in order: the status its line's comment names, or None."""
    expected = []
    for line in script.splitlines():
        code = line.split("#", 1)[0]
        if not re.search(r"(^|[\s$(|])curl\s", code):
            continue
        comment = re.search(r"#\s*(\d{3})\b", line)
        expected.append(int(comment.group(1)) if comment else None)
    return expected


def test_the_tour_names_its_expected_failures_only_by_status():
    """The parser itself: a status in a comment is an expectation, anything else is not."""
    script = 'curl -s $B/x   # 409: not yet\nX=$(curl -s $B/y | field id)\n# curl in a comment\n'
    assert expected_statuses(script) == [409, None]


@pytest.mark.slow
def test_readme_api_tour_runs_against_a_fresh_demo(tmp_path):
    if shutil.which("curl") is None or shutil.which("bash") is None:
        pytest.skip("the README tour needs curl and bash on PATH")
    script = "\n".join(bash_blocks(tour_section((ROOT / "README.md").read_text())))
    assert "export KEY=" in script
    expected = expected_statuses(script)
    assert len(expected) > 20, "the tour lost its commands"
    with served_demo(tmp_path) as demo:
        runnable = re.sub(r"^export KEY=.*$", f"export KEY={demo.key}", script, flags=re.M)
        runnable = runnable.replace("http://127.0.0.1:5000", demo.base)
        work = tmp_path / "tour"
        work.mkdir()
        result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + CURL_WRAPPER + runnable],
                                cwd=work, capture_output=True, text=True, timeout=300)
    statuses = [int(line.split()[1]) for line in result.stderr.splitlines()
                if line.startswith(STATUS_MARK)]
    report = f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, report
    assert len(statuses) == len(expected), report
    for i, (got, want) in enumerate(zip(statuses, expected, strict=True)):
        if want is None:
            assert 200 <= got < 400, f"curl #{i + 1} answered {got}\n{report}"
        else:
            assert got == want, f"curl #{i + 1} answered {got}, the README says {want}\n{report}"
