"""`openintent-tui`: the console by default; `openintent-tui serve` runs the server headless."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from backend.cli import main as serve_main

        serve_main(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="openintent-tui")
    parser.parse_args(argv)
    # Until the console lands, run the bundled server in the foreground.
    print("openintent-tui: the console is not built yet; starting the embedded server instead")
    from backend.cli import main as serve_main

    serve_main([])
