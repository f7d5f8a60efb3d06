"""What the user asks for: the size, window, seed and effects file of one synthetic archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ingest.demo_market.universe import UNIVERSE

DEFAULT_EFFECTS = Path(__file__).with_name("default_effects.yaml")


class DemoConfigError(ValueError):
    """A generator setting the user must fix (the message says which and how)."""


@dataclass(frozen=True)
class DemoConfig:
    """One demo archive: `symbols` from the universe (BTCUSDT first), `months` from `start`.

    The default start (2024-03-01) makes the default 12 months span the spot microsecond switch of
    2025-01-01, so the default archive exercises both timestamp units."""

    out: Path
    symbols: int = 6
    start: date = date(2024, 3, 1)
    months: int = 12
    seed: int = 7
    effects: Path | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.effects is not None:
            object.__setattr__(self, "effects", Path(self.effects))
        if not 1 <= self.symbols <= len(UNIVERSE):
            raise DemoConfigError(f"symbols must be between 1 and {len(UNIVERSE)}, got {self.symbols}")
        if not 1 <= self.months <= 120:
            raise DemoConfigError(f"months must be between 1 and 120, got {self.months}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise DemoConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.start, date) or self.start.year < 2017:
            raise DemoConfigError(f"start must be a date from 2017 on, got {self.start!r}")
        if self.start.day > 28:
            raise DemoConfigError(f"start must be on day 1..28 of a month (so every month has it), got {self.start}")

    @property
    def effects_path(self) -> Path:
        """The effects file actually used (the shipped default when none is given)."""
        return self.effects if self.effects is not None else DEFAULT_EFFECTS

    def symbol_names(self) -> list[str]:
        return [spec.name for spec in UNIVERSE[: self.symbols]]
