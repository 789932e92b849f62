"""Acceptance: the bulk pricer agrees with genai-prices' own dataset of real responses.

``usages.json`` (from the genai-prices repository, ``tests/dataset``) holds usages extracted from real
API responses, each with the input and output price genai-prices computed for every provider that
could have served it, at 2025-11-06 12:00 UTC. Every (case, extracted usage, extractor) becomes one
ledger row; all rows are priced by ONE ``Pricer().components`` call, the way the ledger prices a
batch, and compared with the dataset.

The dataset was written by an older genai-prices than the one installed, and the ledger has no
columns for audio/image/video/tool tokens, web searches or 1-hour cache writes. Every mismatch must
therefore fall into an explained category, found automatically with genai-prices' reference
implementation (``calc_price``, called per row here only):

* ``price book changed``: ``calc_price`` (installed version, full usage) disagrees with the dataset too;
* ``units the ledger does not carry``: the usage reports units the model prices separately and the
  ledger has no column for, and ``calc_price`` on the ledger's columns alone agrees with us.

Anything else is an unexplained mismatch and fails. docs/pricing.md records the figures.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price, data_snapshot
from genai_prices.units import _get_registry

from aispend.pricing import Pricer
from aispend.schema import ARROW_SCHEMA

from .conftest import SAMPLES

DATASET = Path(os.environ.get("AISPEND_GENAI_DATASET", SAMPLES / "genai-prices" / "tests" / "dataset" / "usages.json"))
# The dataset's prices were computed at this instant (tests/dataset/extract_usages.py upstream).
DATASET_AT = datetime(2025, 11, 6, 12, 0, tzinfo=UTC)
PERIOD_START = datetime(2025, 11, 6)

# genai-prices usage keys the ledger has a column for, and that column.
LEDGER_COLUMN_FOR = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "output_reasoning_tokens": "reasoning_tokens",
}

# Measured with genai-prices 0.2.3: 3421 of 3468 comparable rows match (98.6%). A small margin only,
# so a regression in the pricer shows up here and not only as an unexplained mismatch.
MIN_MATCH_RATE = 0.98
MIN_COMPARABLE = 3400
MAX_PRICING_SECONDS = 5.0

BOOK_CHANGED = "price book changed"
UNCARRIED_UNITS = "units the ledger does not carry"
UNEXPLAINED = "unexplained"


@dataclass
class Case:
    row_id: str
    provider: str
    model_ref: str | None
    usage: dict[str, int]
    expected: tuple[Decimal, Decimal] | None


def ledger_usage(usage: dict[str, int]) -> dict[str, int]:
    """The part of a genai-prices usage the ledger's token columns carry (genai-prices' keys)."""
    return {k: v for k, v in usage.items() if k in LEDGER_COLUMN_FOR}


def to_ledger_columns(usage: dict[str, int]) -> dict[str, int | None]:
    """genai-prices usage -> ledger token columns.

    genai-prices' units form a hierarchy (``genai_prices.units``): ``cache_read_tokens`` is the
    ancestor of ``cache_text_read_tokens``, ``cache_audio_read_tokens`` ...; ``cache_write_tokens`` of
    ``cache_write_5m_tokens`` and ``cache_write_1h_tokens``; ``input_tokens`` of all of them. An
    ancestor counts its descendants, and genai-prices refuses a usage that reports a descendant
    without its ancestor, so the ancestor is the ledger's column as it is: adding the modality or
    TTL breakdowns to it would count them twice. ``check_ancestors_reported`` enforces this.
    """
    return {col: usage.get(key) for key, col in LEDGER_COLUMN_FOR.items()}


def check_ancestors_reported(usage: dict[str, int]) -> None:
    registry = _get_registry()
    for key, value in usage.items():
        if value and key in registry.units:
            missing = {a for a in registry.ancestor_usage_keys(key) if a in LEDGER_COLUMN_FOR and a not in usage}
            assert not missing, f"{key} reported without its ancestor(s) {missing}: {usage}"


def load_cases(path: Path) -> list[Case]:
    data = json.loads(path.read_text())
    cases = []
    for ci, record in enumerate(data):
        model_ref = record.get("model")
        for ui, extracted in enumerate(record["extracted"]):
            usage = extracted["usage"]
            check_ancestors_reported(usage)
            for xi, extractor in enumerate(extracted["extractors"]):
                expected = None
                if "input_price" in extractor:
                    expected = (Decimal(extractor["input_price"]), Decimal(extractor["output_price"]))
                cases.append(Case(f"{ci}:{ui}:{xi}", extractor["provider_id"], model_ref, usage, expected))
    return cases


def ledger_table(cases: list[Case]) -> pa.Table:
    rows = [
        {
            "row_id": c.row_id,
            "provider": c.provider,
            "model_raw": c.model_ref,
            **to_ledger_columns(c.usage),
            "requests": 1,
            "service_tier": "standard",
            "charge_category": "usage",
            "cost_source": "estimated",
            "period_start": PERIOD_START,
        }
        for c in cases
    ]
    return pa.Table.from_pylist(rows, schema=ARROW_SCHEMA)


def reference(case: Case, usage: dict[str, int]) -> tuple[Decimal, Decimal] | None:
    """genai-prices' own answer for ``usage``; None when it does not know the model."""
    if not case.model_ref:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # keys the installed registry no longer knows
            price = calc_price(
                Usage(**usage), case.model_ref, provider_id=case.provider, genai_request_timestamp=DATASET_AT
            )
    except LookupError:
        return None
    return price.input_price, price.output_price


def separately_priced_uncarried_units(case: Case) -> set[str]:
    """Usage keys outside the ledger's columns that this model prices with a price of their own."""
    registry = _get_registry()
    _, model = data_snapshot.get_snapshot().find_provider_model(case.model_ref, None, case.provider, None)
    price = model.get_prices(DATASET_AT)
    return {
        key
        for key, value in case.usage.items()
        if value
        and key not in LEDGER_COLUMN_FOR
        and key in registry.units
        and getattr(price, registry.units[key].price_key, None) is not None
    }


def has_token_prices(case: Case) -> bool:
    _, model = data_snapshot.get_snapshot().find_provider_model(case.model_ref, None, case.provider, None)
    price = model.get_prices(DATASET_AT)
    return price.input_mtok is not None or price.output_mtok is not None


@dataclass
class Outcome:
    cases: list[Case]
    got: dict[str, dict[str, Any]]
    seconds: float

    def classify(self, case: Case) -> str | None:
        """None when we agree with the dataset, else the mismatch's category."""
        got = self.got[case.row_id]
        ours = (got["input_usd"], got["output_usd"])
        if ours == case.expected:
            return None
        now = reference(case, case.usage)
        if now is not None and now != case.expected:
            return BOOK_CHANGED
        if separately_priced_uncarried_units(case) and reference(case, ledger_usage(case.usage)) == ours:
            return UNCARRIED_UNITS
        return UNEXPLAINED


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    assert DATASET.is_file(), f"genai-prices dataset missing: {DATASET} (set AISPEND_SAMPLES or AISPEND_GENAI_DATASET)"
    cases = load_cases(DATASET)
    table = ledger_table(cases)
    started = time.perf_counter()
    pricer = Pricer()  # flattens the book (cached per process)
    try:
        built = time.perf_counter()
        result = pricer.components(table)  # ONE bulk call for every row
        seconds = time.perf_counter() - started
    finally:
        pricer.close()
    rows = result.to_pylist()
    got = {r["row_id"]: r for r in rows}
    assert len(rows) == len(got) == len(cases), "the pricer must return each row exactly once"
    print(f"\npriced {len(cases)} dataset rows in one call: {seconds:.3f}s (book {built - started:.3f}s)")
    return Outcome(cases, got, seconds)


def test_dataset_is_the_expected_one(outcome: Outcome) -> None:
    assert len(outcome.cases) == 19_321
    assert len({c.row_id.split(":")[0] for c in outcome.cases}) == 1_577
    assert sum(c.expected is not None for c in outcome.cases) == 3_474


def test_bulk_pricing_is_fast(outcome: Outcome) -> None:
    assert outcome.seconds < MAX_PRICING_SECONDS, f"bulk pricing took {outcome.seconds:.2f}s"


def test_every_model_with_an_expected_price_is_known_to_the_book(outcome: Outcome) -> None:
    unknown = [
        (c.row_id, c.provider, c.model_ref)
        for c in outcome.cases
        if c.expected and not outcome.got[c.row_id]["model_id"]
    ]
    assert not unknown, (
        f"{len(unknown)} rows with a dataset price whose model the book does not resolve: {unknown[:10]}"
    )


def test_rows_the_book_knows_are_priced(outcome: Outcome) -> None:
    """Known model + tokens + a token price => priced. The exceptions are counted and explained."""
    exempt: Counter[str] = Counter()
    unpriced = []
    for c in outcome.cases:
        got = outcome.got[c.row_id]
        if not got["model_id"] or got["priced"]:
            continue
        ledger = to_ledger_columns(c.usage)
        if not (ledger["input_tokens"] or ledger["output_tokens"]):
            exempt["no tokens (pricing_status 'none')"] += 1
        elif not has_token_prices(c):
            # genai-prices lists the model with no price at all (":free" or price-less entries): the
            # ledger leaves it unpriced (NULL list cost) rather than inventing $0.
            exempt["model listed without a token price (unpriced, not $0)"] += 1
        else:
            unpriced.append((c.row_id, c.provider, c.model_ref, got["model_id"], c.usage))
    print(f"\nknown but not priced, by reason: {dict(exempt)}")
    assert not unpriced, f"{len(unpriced)} rows of known models left unpriced: {unpriced[:10]}"
    assert sum(exempt.values()) <= 10


def test_pricing_agrees_with_genai_prices_dataset(outcome: Outcome) -> None:
    comparable = [c for c in outcome.cases if c.expected and outcome.got[c.row_id]["priced"]]
    categories: Counter[str] = Counter()
    unexplained = []
    for c in comparable:
        category = outcome.classify(c)
        categories[category or "match"] += 1
        if category == UNEXPLAINED:
            got = outcome.got[c.row_id]
            unexplained.append(
                (c.row_id, c.provider, c.model_ref, c.usage, c.expected, (got["input_usd"], got["output_usd"]))
            )
    matched = categories["match"]
    rate = matched / len(comparable)
    with_price = sum(c.expected is not None for c in outcome.cases)
    print(
        f"\ngenai-prices dataset: {matched} matched / {len(comparable)} comparable ({rate:.2%}); "
        f"{with_price} rows with a dataset price, {len(outcome.cases)} rows in all; "
        f"mismatches by category: { {k: v for k, v in categories.items() if k != 'match'} }"
    )
    assert not unexplained, "unexplained mismatches (first 10):\n" + "\n".join(map(repr, unexplained[:10]))
    assert len(comparable) >= MIN_COMPARABLE
    assert rate >= MIN_MATCH_RATE, f"match rate {rate:.2%} < {MIN_MATCH_RATE:.0%}"


def test_pricer_equals_reference_on_ledger_columns(outcome: Outcome) -> None:
    """Stronger than the dataset: for every row whose model the book knows, our input and output
    cost equal the installed genai-prices' ``calc_price`` given the same (ledger-column) usage.
    A difference here is a bug in aispend.pricing, not an old dataset or a missing column."""
    known = [c for c in outcome.cases if outcome.got[c.row_id]["model_id"]]
    bad = []
    for c in known:
        got = outcome.got[c.row_id]
        ref = reference(c, ledger_usage(c.usage))
        if ref != (got["input_usd"], got["output_usd"]):
            bad.append(
                (c.row_id, c.provider, c.model_ref, ledger_usage(c.usage), ref, (got["input_usd"], got["output_usd"]))
            )
    print(f"\n{len(known) - len(bad)} of {len(known)} known rows equal calc_price on the ledger's columns")
    assert not bad, f"{len(bad)} rows differ from calc_price (first 10):\n" + "\n".join(map(repr, bad[:10]))
