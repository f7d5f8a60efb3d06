"""Demo market: a synthetic Binance archive (data.binance.vision layout, zips plus `.CHECKSUM`)
with the stylised facts of crypto, realistic archive defects and planted effects of known size.

    from ingest.demo_market import DemoConfig, generate
    root = generate(DemoConfig(out=Path("data/demo_market"), symbols=6, months=12, seed=7))

The archive goes through the real ingester; `<out>/ground_truth/` says what was planted."""

from ingest.demo_market.config import DEFAULT_EFFECTS, DemoConfig, DemoConfigError
from ingest.demo_market.effects import EffectsError, load_effects
from ingest.demo_market.generator import generate
from ingest.demo_market.universe import LEADER, UNIVERSE

__all__ = ["DEFAULT_EFFECTS", "DemoConfig", "DemoConfigError", "EffectsError", "LEADER", "UNIVERSE", "generate",
           "load_effects"]
