"""Seeded generator of card transactions for the ``fraud-detector`` demo model.

Three regimes, each with its own feature distributions *and* label relationship (what fraud looks
like), so a model trained in one loses quality in the next and retraining truly helps:

* ``training`` (the champion's training era): fraud is large foreign amounts far from home at night;
* ``online`` (``drift=True``, the demo's first shift): more online and foreign payments, smaller
  amounts; fraud is many small online payments from young accounts;
* ``cash_out`` (a later shift): more ATM use and busy online subscriptions, which are now normal;
  fraud is larger ATM withdrawals at risky merchants from cards with few recent transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FEATURES = ["amount", "hour", "merchant_risk", "distance_km", "tx_last_24h", "account_age_days", "channel", "country"]
CATEGORICAL = ["channel", "country"]
LABEL = "is_fraud"
CHANNELS = ["pos", "online", "atm", "phone"]
TRAINING, ONLINE, CASH_OUT = "training", "online", "cash_out"
#: The regimes in the order the demo's shifts move through them (shift k: ``REGIMES[k % 3]``).
REGIMES = (TRAINING, ONLINE, CASH_OUT)
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "NG"]


@dataclass(frozen=True)
class _Mix:
    """How a regime's transactions are spread: log-normal amounts (mean, sigma), the hour profile's night weight, the
    shares of :data:`CHANNELS` and :data:`COUNTRIES`, and the mean number of transactions in 24 hours."""

    amount: tuple[float, float]
    night_weight: float
    channels: tuple[float, ...]
    countries: tuple[float, ...]
    tx_per_day: float


_MIXES = {
    TRAINING: _Mix(
        amount=(3.9, 0.9),
        night_weight=1.0,
        channels=(0.55, 0.3, 0.1, 0.05),
        countries=(0.5, 0.1, 0.08, 0.07, 0.05, 0.05, 0.05, 0.04, 0.03, 0.03),
        tx_per_day=3.0,
    ),
    ONLINE: _Mix(
        amount=(3.4, 1.1),
        night_weight=3.0,
        channels=(0.25, 0.6, 0.1, 0.05),
        countries=(0.3, 0.1, 0.08, 0.07, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1),
        tx_per_day=6.0,
    ),
    CASH_OUT: _Mix(
        amount=(3.0, 1.0),
        night_weight=1.5,
        channels=(0.1, 0.45, 0.4, 0.05),
        countries=(0.4, 0.1, 0.08, 0.07, 0.05, 0.05, 0.05, 0.06, 0.07, 0.07),
        tx_per_day=8.0,
    ),
}


def generate_transactions(n: int, *, seed: int = 0, drift: bool = False, regime: str | None = None) -> pd.DataFrame:
    """``n`` labelled transactions; the same ``seed`` and regime give the same frame.

    :param n: number of rows.
    :param seed: random seed.
    :param drift: generate the ``online`` regime (the demo's first shift) instead of ``training``.
    :param regime: one of :data:`REGIMES`; given, it wins over ``drift``.
    """
    import numpy as np
    import pandas as pd

    if n <= 0:
        raise ValueError(f"n={n}: the number of transactions must be positive")
    regime = regime or (ONLINE if drift else TRAINING)
    if regime not in REGIMES:
        raise ValueError(f"regime={regime!r}: use one of {', '.join(REGIMES)}")
    rng = np.random.default_rng(seed)
    mix = _MIXES[regime]
    amount = rng.lognormal(mean=mix.amount[0], sigma=mix.amount[1], size=n)
    hour = rng.choice(24, size=n, p=_hour_profile(night_weight=mix.night_weight))
    channel = rng.choice(CHANNELS, size=n, p=mix.channels)
    country = rng.choice(COUNTRIES, size=n, p=mix.countries)
    tx_last_24h = rng.poisson(mix.tx_per_day, size=n)
    merchant_risk = rng.beta(2, 5, size=n)
    distance_km = rng.exponential(30.0, size=n)
    account_age_days = rng.integers(1, 3650, size=n)
    foreign = ~np.isin(country, ["US"])
    online = channel == "online"

    if regime == ONLINE:  # fraud is now many small online payments from young accounts
        logit = (
            -3.2
            + 2.2 * online
            + 0.35 * (tx_last_24h - 6)
            - 0.6 * np.log1p(amount)
            + 1.5 * (account_age_days < 90)
            + 1.2 * merchant_risk
        )
    elif regime == CASH_OUT:  # fraud is larger ATM withdrawals at risky merchants from quiet cards
        logit = (
            -4.6
            + 2.6 * (channel == "atm")
            + 0.8 * (np.log1p(amount) - 3)
            + 2.0 * merchant_risk
            - 0.25 * (tx_last_24h - 8)
        )
    else:  # fraud is large foreign amounts far from home at night
        logit = (
            -8.0
            + 0.9 * np.log1p(amount)
            + 1.6 * foreign
            + 0.02 * distance_km
            + 1.0 * ((hour < 6) | (hour > 22))
            + 1.5 * merchant_risk
        )
    is_fraud = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "amount": amount.round(2),
            "hour": hour.astype("int64"),
            "merchant_risk": merchant_risk,
            "distance_km": distance_km,
            "tx_last_24h": tx_last_24h.astype("int64"),
            "account_age_days": account_age_days.astype("int64"),
            "channel": channel,
            "country": country,
            LABEL: is_fraud.astype("int64"),
        }
    )


def _hour_profile(night_weight: float) -> list[float]:
    weights = [night_weight if (h < 6 or h > 22) else 1.0 for h in range(24)]
    total = sum(weights)
    return [w / total for w in weights]


def write_demo_data(data_dir: str | Path, *, drift: bool, rows: int = 5000, seed: int = 7) -> dict[str, Path]:
    """Write the demo's Parquet files and return their paths.

    ``reference.parquet`` is the training-era data; ``current.parquet`` the recent labelled window
    (drifted when ``drift``), which retraining learns from; ``validation.parquet`` a separate
    sample of the same regime as ``current``, on which champion and challenger are compared.
    """
    from airflow_provider_agentic_mlops.core.data_io import import_parquet

    import_parquet()  # pandas would say "Missing optional dependency 'pyarrow'" of a pyarrow that is installed
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "reference": data_dir / "reference.parquet",
        "current": data_dir / "current.parquet",
        "validation": data_dir / "validation.parquet",
    }
    generate_transactions(rows, seed=seed, drift=False).to_parquet(paths["reference"], index=False)
    generate_transactions(rows, seed=seed + 1, drift=drift).to_parquet(paths["current"], index=False)
    generate_transactions(rows, seed=seed + 2, drift=drift).to_parquet(paths["validation"], index=False)
    return paths


SHIFT_FILE = "shift.json"
#: Keys of the Parquet files' metadata (``DataFrame.attrs``) naming the shift and the regime a file was drawn
#: from; the demo's training tags each version with them, so a restart knows what the champion learned from.
SHIFT_ATTR, REGIME_ATTR = "agentic_mlops.demo.shift", "agentic_mlops.demo.regime"


def _marker(data_dir: str | Path) -> dict[str, Any]:
    import json

    marker = Path(data_dir) / SHIFT_FILE
    return json.loads(marker.read_text()) if marker.exists() else {"shift": 0, "drift": False}


def current_shift(data_dir: str | Path) -> int:
    """The shift the demo data are at (0: the training era; 1: the first drift): the current data are of
    regime ``REGIMES[shift % 3]``."""
    return int(_marker(data_dir)["shift"])


def data_drift(data_dir: str | Path) -> bool:
    """Whether the current data drifted from the reference (False after ``write_shift(..., drift=False)``)."""
    return bool(_marker(data_dir).get("drift", True))


def write_shift(
    data_dir: str | Path,
    shift: int,
    *,
    rows: int = 5000,
    seed: int = 7,
    drift: bool = True,
    reference_shift: int | None = None,
) -> dict[str, Path]:
    """Write the data of shift number ``shift``: the reference is the regime of shift ``reference_shift``
    (default ``shift - 1``: what a champion retrained after that shift learned from), the current and
    validation data a new regime. With ``drift=False``, all three are of shift ``shift``'s regime
    (``shift=0``: the training era), new samples of it: no drift for a champion that learned from it,
    measured on rows it did not learn from.

    Regimes cycle through the three fraud patterns of :func:`generate_transactions` (:data:`REGIMES`) with
    fresh seeds, so each shift drifts against the one before and changes what fraud looks like: the
    champion retrained after the previous shift loses accuracy, and the loop retrains again. Each file
    names its shift and regime in its metadata (:data:`SHIFT_ATTR`, :data:`REGIME_ATTR`).
    """
    import json

    if shift < (1 if drift else 0):
        raise ValueError(f"shift={shift}: shifts are numbered from 1 (the first drift; 0 is the training era)")
    if reference_shift is not None and not 0 <= reference_shift < shift:
        raise ValueError(
            f"reference_shift={reference_shift}: the reference is the regime of an earlier shift, from 0 (the "
            f"training era) to {shift - 1}"
        )
    from airflow_provider_agentic_mlops.core.data_io import import_parquet

    import_parquet()  # pandas would say "Missing optional dependency 'pyarrow'" of a pyarrow that is installed
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: data_dir / f"{name}.parquet" for name in ("reference", "current", "validation")}

    def regime(k: int, offset: int) -> pd.DataFrame:
        frame = generate_transactions(rows, seed=seed + 10 * k + offset, regime=REGIMES[k % len(REGIMES)])
        frame.attrs.update({SHIFT_ATTR: k, REGIME_ATTR: REGIMES[k % len(REGIMES)]})
        return frame

    # without drift, current and validation are other samples (offsets 3, 4) than the current data of shift
    # ``shift`` (offset 1), which a champion retrained after it learned from
    if not drift:
        reference_shift = shift
    elif reference_shift is None:
        reference_shift = shift - 1
    regime(reference_shift, 0).to_parquet(paths["reference"], index=False)
    regime(shift, 1 if drift else 3).to_parquet(paths["current"], index=False)
    regime(shift, 2 if drift else 4).to_parquet(paths["validation"], index=False)
    (data_dir / SHIFT_FILE).write_text(json.dumps({"shift": shift, "drift": drift}))
    return paths
