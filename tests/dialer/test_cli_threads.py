"""The `dialer` command keeps BLAS to one thread: the engine's numpy products are small."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = ("import dialer, os, sys; early = 'numpy' in sys.modules; import dialer.cli; "
         "print(os.environ['OPENBLAS_NUM_THREADS'], early, 'numpy' in sys.modules)")


def _probe(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True, timeout=120)
    return done.stdout.strip()


def test_the_command_limits_blas_threads_before_numpy_loads() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    assert _probe(env) == "1 False True"   # set before the command's imports load numpy


def test_an_explicit_thread_setting_wins() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    assert _probe(env) == "2 False True"
