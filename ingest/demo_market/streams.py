"""Named, independent random streams derived from the seed.

Every random draw comes from `stream(seed, name, *keys)`: the same (seed, name, keys) always gives
the same numbers, and adding a symbol or a stream never shifts the draws of another one. Symbols are
keyed by their position in the universe, so BTCUSDT's data do not depend on how many symbols run."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """A generator for one purpose; `name` is hashed with CRC32 (stable across runs and machines)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), *keys]))
