"""Progress helpers: formatting, and no TensorFlow behind a timer."""

import subprocess
import sys

from cnnsvm.progress import Stage, format_seconds


def test_format_seconds():
    assert format_seconds(-1) == "0.0s"
    assert format_seconds(75.2) == "1m15s"
    assert format_seconds(3 * 3600 + 125) == "3h02m"


def test_stage_measures_and_logs(capsys):
    import io

    stream = io.StringIO()
    with Stage("fit svc", stream=stream) as stage:
        pass
    assert stage.elapsed >= 0
    assert stream.getvalue().splitlines() == ["- fit svc ...", f"  fit svc done in {format_seconds(stage.elapsed)}"]


def test_timers_and_the_cli_parser_import_no_tensorflow():
    code = (
        "import sys, cnnsvm.progress, cnnsvm.cli; cnnsvm.cli.build_parser(); "
        "print(sorted(m for m in ('keras', 'tensorflow', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
