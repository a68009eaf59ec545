"""``python -m hostapi.web [--port N] [--no-browser]``: the same as ``voc-host serve``."""

import argparse
import sys

from hostapi import Host

from .server import add_serve_command, missing_web, run_serve

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m hostapi.web")
    add_serve_command(parser.add_subparsers(dest="command", required=True), [])
    args = parser.parse_args(["serve", *sys.argv[1:]])
    problem = missing_web()
    if problem:
        sys.exit(f"{parser.prog}: {problem}")
    sys.exit(run_serve(Host(), args))
