"""What the atheris harnesses in this folder share: the repository on the import path, a
seeded corpus folder and libFuzzer defaults suited to this project.

A harness is started as a script (``.venv/bin/python fuzz/fuzz_readers.py ...``); its
command line is libFuzzer's (``-max_total_time=600``, ``-runs=N``, ``-jobs=2``, corpus
folders, or crash files to replay). Without a corpus folder on the command line, the
harness uses ``var/fuzz/<name>/``, written with its seeds on the first run and grown by
libFuzzer as it finds new paths. Findings go to ``var/fuzz/<name>-crash-<sha1>`` (and
``-timeout-``, ``-oom-``); replay one with ``fuzz/<harness>.py <that file>``.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for tests.hostile.crafted, the source of many seeds

# A slow input or a big allocation is a finding too (libFuzzer stops and keeps it).
DEFAULTS = {"-timeout": "30", "-rss_limit_mb": "3072", "-max_len": "1048576"}


def run(name: str, test_one_input: Callable[[bytes], None], seeds: Iterable[bytes]) -> None:
    """Fuzz ``test_one_input`` under libFuzzer with this process's command line."""
    argv = list(sys.argv)
    given = {arg.split("=", 1)[0] for arg in argv[1:] if arg.startswith("-")}
    argv += [f"{flag}={value}" for flag, value in DEFAULTS.items() if flag not in given]
    if "-artifact_prefix" not in given:
        argv.append(f"-artifact_prefix={REPO / 'var' / 'fuzz'}/{name}-")
    if not any(not arg.startswith("-") for arg in argv[1:]):
        argv.append(str(seeded_corpus(name, seeds)))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def seeded_corpus(name: str, seeds: Iterable[bytes]) -> Path:
    """``var/fuzz/<name>/`` with every seed in it (named by content, so never twice)."""
    folder = REPO / "var" / "fuzz" / name
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        path = folder / f"seed-{hashlib.sha1(seed).hexdigest()}"
        if not path.exists():
            path.write_bytes(seed)
    return folder
