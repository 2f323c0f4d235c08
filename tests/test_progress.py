"""The one progress display: plain lines per finished item off a terminal, a named bar on one."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from rich.text import Text

from securitynet.progress import ProgressDisplay, one_line
from securitynet.text import shorten_middle


def test_off_a_terminal_each_finished_item_is_one_line_with_its_count_and_outcome() -> None:
    out = StringIO()
    with ProgressDisplay(3, "zoo", console=Console(file=out, width=80)) as bar:
        bar.working_on("a")
        bar.finished("zoo/a", seconds=1.25)
        bar.finished("zoo/b", error=ValueError("bad weights\nTraceback ..."))
        bar.finished("zoo/c", detail="(already stored)", seconds=0.0)
    assert out.getvalue().splitlines() == [
        "[1/3] zoo/a done 1.2s",
        "[2/3] zoo/b failed: ValueError: bad weights",
        "[3/3] zoo/c done (already stored) 0.0s",
    ]
    assert bar.done == 3 and bar.failed == 1


def test_disabled_or_line_free_displays_print_nothing_off_a_terminal() -> None:
    out = StringIO()
    for options in ({"enabled": False}, {"lines": False}):
        with ProgressDisplay(1, "steps", console=Console(file=out), **options) as bar:
            bar.advance()
            bar.finished("x")
    assert out.getvalue() == ""


def test_on_a_terminal_the_bar_shows_what_runs_now_and_the_failures() -> None:
    for width in (80, 120):
        console = Console(file=StringIO(), force_terminal=True, width=width)
        with ProgressDisplay(4, "jobs", console=console) as bar:
            bar.working_on("file/lenet5_advertorch_clean mia.loss")
            bar.finished("file/lenet5_advertorch_clean mia.loss", error="boom")
            console.file.truncate(0)
            bar._progress.refresh()
            shown = console.file.getvalue()
        described = bar.description()
        assert described in shown and "1/4" in shown and "1 failed" in shown
        assert "[1/4]" not in shown  # no log lines on a terminal
        if width == 120:
            assert described == "jobs: file/lenet5_advertorch_clean mia.loss"
        else:  # shortened in the middle: both ends of the id and the attack still there
            assert len(described) == 40 and described.startswith("jobs: file/") and described.endswith(
                "_clean mia.loss")
            assert all(len(line) <= 80 for line in Text.from_ansi(shown).plain.splitlines())


def test_long_names_are_shortened_in_the_middle_and_errors_to_their_first_line() -> None:
    name = "pytorchcv/resnet1001_cifar100 mia.shadow"
    short = shorten_middle(name, 20)
    assert len(short) == 20 and short.startswith("pytorchcv/") and short.endswith("ia.shadow") and "…" in short
    assert shorten_middle("short", 20) == "short"
    assert one_line("first\nsecond") == "first" and one_line(None) == "unknown error"
    assert len(one_line("x" * 500)) == 160
