"""The `dialer` command-line interface."""

import os

# An engine paces with small numpy products; BLAS worker threads would only contend with
# the event loop and the other processes (decide() at 200 agents with both cores busy:
# 12.0 ms with two threads, 0.71 ms with one). Set before numpy loads; an explicit
# setting wins.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

from dialer.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
