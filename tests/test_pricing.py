"""Unit tests of the bulk pricer (aispend.pricing).

Most tests run against a small synthetic genai-prices snapshot (provider ``acme``), so every
expected figure is exact and visible here; where the semantics are genai-prices' own, the result is
also checked against ``genai_prices.calc_price`` on the same snapshot. A few tests use the bundled
data, where the point is how aispend reads it (fallback providers, reasoning prices).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price, data_snapshot
from genai_prices import types as gp

from aispend.config import PriceOverride, PricingConfig
from aispend.pricing import PriceBook, Pricer
from aispend.pricing import book as book_module
from aispend.schema import ARROW_SCHEMA

D = Decimal
M = 1_000_000
DAY = datetime(2025, 7, 1)


def _model(
    model_id: str, prices: gp.ModelPrice | list[gp.ConditionalPrice], variants: list[gp.PriceVariant] | None = None
) -> gp.ModelInfo:
    return gp.ModelInfo(id=model_id, match=gp.ClauseEquals(equals=model_id), prices=prices, price_variants=variants)


def _mp(**prices: Any) -> gp.ModelPrice:
    return gp.ModelPrice(**{k: (D(str(v)) if isinstance(v, int | float | str) else v) for k, v in prices.items()})


ACME_MODELS = [
    # plain prices with cache read/write; no batch variant -> tier_multipliers
    _model("acme-flat", _mp(input_mtok=1, output_mtok=2, cache_read_mtok="0.1", cache_write_mtok="1.25")),
    # input and output only: cache tokens are plain input
    _model("acme-plain", _mp(input_mtok=1, output_mtok=2)),
    # price history: three periods
    _model(
        "acme-dated",
        [
            gp.ConditionalPrice(prices=_mp(input_mtok=1, output_mtok=2)),
            gp.ConditionalPrice(gp.StartDateConstraint(date(2025, 6, 1)), prices=_mp(input_mtok="0.5", output_mtok=1)),
            gp.ConditionalPrice(
                gp.StartDateConstraint(date(2025, 9, 1)), prices=_mp(input_mtok="0.25", output_mtok="0.5")
            ),
        ],
    ),
    # long context: every token at the tier price once a request's input exceeds 200k
    _model(
        "acme-long",
        _mp(
            input_mtok=gp.TieredPrices(base=D(1), tiers=[gp.Tier(start=200_000, price=D(2))]),
            output_mtok=gp.TieredPrices(base=D(4), tiers=[gp.Tier(start=200_000, price=D(6))]),
            cache_read_mtok=gp.TieredPrices(base=D("0.1"), tiers=[gp.Tier(start=200_000, price=D("0.2"))]),
        ),
    ),
    # a batch variant (not the 50% of the default multiplier, so the two are told apart)
    _model(
        "acme-batch",
        _mp(input_mtok=1, output_mtok=2),
        [gp.PriceVariant(when={"processing": "batch"}, prices=_mp(input_mtok="0.4", output_mtok="0.8"))],
    ),
    # a batch variant that only starts on 2025-06-01
    _model(
        "acme-batch-later",
        _mp(input_mtok=1, output_mtok=2),
        [
            gp.PriceVariant(
                when={"processing": "batch"},
                prices=_mp(input_mtok="0.4", output_mtok="0.8"),
                constraint=gp.StartDateConstraint(date(2025, 6, 1)),
            )
        ],
    ),
    # a separate price for reasoning tokens (a subset of output)
    _model("acme-reasoning", _mp(input_mtok=2, output_mtok=8, output_reasoning_mtok=3)),
    # a per-request fee
    _model("acme-requests", _mp(input_mtok=1, output_mtok=1, requests_kcount=5)),
    # listed without any price
    _model("acme-free", _mp()),
    # priced only in units the ledger has no column for
    _model("acme-voice", _mp(input_audio_hours="0.36")),
]

SNAPSHOT = data_snapshot.DataSnapshot(
    providers=[
        gp.Provider(id="acme", name="Acme", api_pattern=r"https://api\.acme\.test", models=ACME_MODELS),
        # a reseller with one model of its own that falls back to acme's list for the rest
        gp.Provider(
            id="acme-cloud",
            name="Acme Cloud",
            api_pattern=r"https://cloud\.acme\.test",
            fallback_model_providers=["acme"],
            models=[_model("acme-cloud-own", _mp(input_mtok=7, output_mtok=7))],
        ),
    ],
    from_auto_update=False,
)


def _reset_book_cache() -> None:
    book_module._book_table.cache_clear()


@pytest.fixture
def acme() -> Iterator[None]:
    """Install the synthetic snapshot; the flattened book is cached per process, so reset it."""
    _reset_book_cache()
    data_snapshot.set_custom_snapshot(SNAPSHOT)
    try:
        yield
    finally:
        data_snapshot.set_custom_snapshot(None)
        _reset_book_cache()


def row(row_id: str, model: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "row_id": row_id,
        "provider": "acme",
        "model_raw": model,
        "requests": 1,
        "service_tier": "standard",
        "charge_category": "usage",
        "cost_source": "estimated",
        "period_start": DAY,
    }
    return base | values


def table(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=ARROW_SCHEMA)


def components(*rows: dict[str, Any], config: PricingConfig | None = None) -> dict[str, dict[str, Any]]:
    pricer = Pricer(PriceBook(config or PricingConfig()))
    try:
        out = pricer.components(table(*rows)).to_pylist()
    finally:
        pricer.close()
    assert len(out) == len(rows)
    return {r["row_id"]: r for r in out}


def priced(*rows: dict[str, Any], config: PricingConfig | None = None) -> dict[str, dict[str, Any]]:
    pricer = Pricer(PriceBook(config or PricingConfig()))
    try:
        out = pricer.price(table(*rows))
    finally:
        pricer.close()
    assert out.schema == ARROW_SCHEMA
    assert out.num_rows == len(rows)
    return {r["row_id"]: r for r in out.to_pylist()}


def reference(model: str, when: datetime = DAY, provider: str = "acme", **usage: int) -> tuple[Decimal, Decimal]:
    price = calc_price(
        Usage(**usage), model, provider_id=provider, genai_request_timestamp=when.replace(hour=12, tzinfo=UTC)
    )
    return price.input_price, price.output_price


def io(result: dict[str, Any]) -> tuple[Decimal, Decimal]:
    return result["input_usd"], result["output_usd"]


# --- dated prices -------------------------------------------------------------------------------


def test_price_history_picks_the_period_of_period_start(acme: None) -> None:
    days = {
        "before": datetime(2025, 5, 31, 23, 59),
        "first-day": datetime(2025, 6, 1),
        "middle": datetime(2025, 8, 31),
        "second-change": datetime(2025, 9, 1),
        "later": datetime(2031, 1, 1),
    }
    out = components(*(row(k, "acme-dated", input_tokens=M, output_tokens=M, period_start=v) for k, v in days.items()))
    assert {k: io(v) for k, v in out.items()} == {
        "before": (D(1), D(2)),
        "first-day": (D("0.5"), D(1)),
        "middle": (D("0.5"), D(1)),
        "second-change": (D("0.25"), D("0.5")),
        "later": (D("0.25"), D("0.5")),
    }
    for k, when in days.items():
        assert io(out[k]) == reference("acme-dated", when, input_tokens=M, output_tokens=M)


# --- cache read / write ---------------------------------------------------------------------------


def test_cache_reads_and_writes_have_their_own_prices(acme: None) -> None:
    usage = {"input_tokens": M, "cache_read_tokens": 300_000, "cache_write_tokens": 100_000, "output_tokens": 10_000}
    out = components(row("r", "acme-flat", **usage))["r"]
    # 600k plain input at $1 + 300k cache reads at $0.10 + 100k cache writes at $1.25
    assert io(out) == (D("0.6") + D("0.03") + D("0.125"), D("0.02"))
    assert io(out) == reference("acme-flat", **usage)


def test_cache_tokens_are_plain_input_when_the_model_has_no_cache_price(acme: None) -> None:
    usage = {"input_tokens": M, "cache_read_tokens": 300_000, "cache_write_tokens": 100_000}
    out = components(row("r", "acme-plain", **usage))["r"]
    assert out["input_usd"] == D(1)
    assert io(out) == reference("acme-plain", **usage)


# --- long-context tier ----------------------------------------------------------------------------


def test_long_context_tier_is_chosen_by_input_tokens_per_request(acme: None) -> None:
    out = components(
        row("at-edge", "acme-long", input_tokens=200_000, output_tokens=1_000),
        row("above", "acme-long", input_tokens=200_001, output_tokens=1_000),
        row("above-cached", "acme-long", input_tokens=300_000, cache_read_tokens=100_000, output_tokens=1_000),
        # 300k input over 2 requests is 150k per request: base price
        row("two-requests", "acme-long", input_tokens=300_000, output_tokens=1_000, requests=2),
        # no request count: the per-request size is unknown, so the base tier (no invented surcharge)
        row("no-requests", "acme-long", input_tokens=300_000, output_tokens=1_000, requests=None),
    )
    assert io(out["at-edge"]) == (D("0.2"), D("0.004"))  # "exceeds" 200k, not "reaches"
    assert io(out["above"]) == (D("0.400002"), D("0.006"))
    assert io(out["above-cached"]) == (D("0.4") + D("0.02"), D("0.006"))
    assert io(out["two-requests"]) == (D("0.3"), D("0.004"))
    assert io(out["no-requests"]) == (D("0.3"), D("0.004"))
    for key, usage in {
        "at-edge": {"input_tokens": 200_000, "output_tokens": 1_000},
        "above": {"input_tokens": 200_001, "output_tokens": 1_000},
        "above-cached": {"input_tokens": 300_000, "cache_read_tokens": 100_000, "output_tokens": 1_000},
    }.items():
        assert io(out[key]) == reference("acme-long", **usage), key


# --- batch and other service tiers ----------------------------------------------------------------


def test_batch_tier_uses_the_genai_prices_variant(acme: None) -> None:
    out = components(
        row("std", "acme-batch", input_tokens=M, output_tokens=M),
        row("batch", "acme-batch", input_tokens=M, output_tokens=M, service_tier="batch"),
        row("null-tier", "acme-batch", input_tokens=M, output_tokens=M, service_tier=None),
    )
    assert io(out["std"]) == io(out["null-tier"]) == (D(1), D(2))
    assert io(out["batch"]) == (D("0.4"), D("0.8"))  # the variant, not the 50% multiplier
    price = calc_price(
        Usage(input_tokens=M, output_tokens=M),
        "acme-batch",
        provider_id="acme",
        genai_request_timestamp=datetime(2025, 7, 1, 12, tzinfo=UTC),
        price_context={"processing": "batch"},
    )
    assert io(out["batch"]) == (price.input_price, price.output_price)


def test_batch_tier_without_a_variant_uses_tier_multipliers(acme: None) -> None:
    usage = {"input_tokens": M, "cache_read_tokens": 200_000, "output_tokens": M}
    default = components(
        row("batch", "acme-flat", service_tier="batch", **usage),
        row("priority", "acme-flat", service_tier="priority", **usage),
    )
    # standard: 800k x $1 + 200k x $0.10 = 0.82 input, $2 output; batch halves every price
    assert io(default["batch"]) == (D("0.41"), D(1))
    assert io(default["priority"]) == (D("0.82"), D(2))  # no multiplier configured: list price
    custom = PricingConfig(tier_multipliers={"batch": D("0.6"), "flex": D("0.7")})
    out = components(
        row("batch", "acme-flat", service_tier="batch", **usage),
        row("flex", "acme-flat", service_tier="flex", **usage),
        config=custom,
    )
    assert io(out["batch"]) == (D("0.492"), D("1.2"))
    assert io(out["flex"]) == (D("0.574"), D("1.4"))


def test_a_batch_variant_prices_batch_only_from_its_start(acme: None) -> None:
    """Before a dated variant starts the book has no batch price: the multiplier applies."""
    out = components(
        row(
            "before",
            "acme-batch-later",
            input_tokens=M,
            output_tokens=M,
            service_tier="batch",
            period_start=datetime(2025, 5, 31),
        ),
        row(
            "after",
            "acme-batch-later",
            input_tokens=M,
            output_tokens=M,
            service_tier="batch",
            period_start=datetime(2025, 6, 1),
        ),
    )
    assert io(out["before"]) == (D("0.5"), D(1))
    assert io(out["after"]) == (D("0.4"), D("0.8"))


# --- overrides ------------------------------------------------------------------------------------


def test_override_wins_over_the_book(acme: None) -> None:
    config = PricingConfig(
        overrides=[
            PriceOverride(
                provider="acme",
                model="acme-flat",
                input_mtok=D(3),
                output_mtok=D(5),
                cache_read_mtok=D("0.3"),
                cache_write_mtok=D(4),
            )
        ]
    )
    out = priced(
        row("r", "acme-flat", input_tokens=M, cache_read_tokens=100_000, output_tokens=M),
        row("other-provider", "acme-flat", provider="acme-cloud", input_tokens=M, output_tokens=M),
        config=config,
    )
    assert out["r"]["list_cost_usd"] == D("2.7") + D("0.03") + D(5)
    assert out["r"]["pricing_status"] == "override"
    assert out["r"]["model"] == "acme-flat"
    # an override is per provider: the reseller's row keeps the list price
    assert out["other-provider"]["list_cost_usd"] == D(3)
    assert out["other-provider"]["pricing_status"] == "priced"


def test_partial_override_replaces_only_the_keys_given(acme: None) -> None:
    config = PricingConfig(overrides=[PriceOverride(provider="acme", model="acme-flat", output_mtok=D(10))])
    out = components(
        row("r", "acme-flat", input_tokens=M, cache_read_tokens=200_000, cache_write_tokens=100_000, output_tokens=M),
        config=config,
    )
    # input, cache read and cache write keep the book's $1, $0.10, $1.25
    assert io(out["r"]) == (D("0.7") + D("0.02") + D("0.125"), D(10))


def test_override_tier_and_dates(acme: None) -> None:
    config = PricingConfig(
        overrides=[
            PriceOverride(provider="acme", model="acme-flat", input_mtok=D(9), service_tier="batch"),
            PriceOverride(provider="acme", model="acme-plain", input_mtok=D(9), start="2025-07-01", end="2025-08-01"),
        ]
    )
    out = components(
        row("flat-std", "acme-flat", input_tokens=M),
        row("flat-batch", "acme-flat", input_tokens=M, service_tier="batch"),
        row("plain-june", "acme-plain", input_tokens=M, period_start=datetime(2025, 6, 30)),
        row("plain-july", "acme-plain", input_tokens=M, period_start=datetime(2025, 7, 31)),
        row("plain-august", "acme-plain", input_tokens=M, period_start=datetime(2025, 8, 1)),
        config=config,
    )
    assert {k: v["input_usd"] for k, v in out.items()} == {
        "flat-std": D(1),
        "flat-batch": D(9),  # the override's own price, not halved
        "plain-june": D(1),
        "plain-july": D(9),
        "plain-august": D(1),  # end is exclusive
    }


def test_override_prices_a_model_the_book_does_not_know(acme: None) -> None:
    config = PricingConfig(
        overrides=[PriceOverride(provider="acme", model="in-house-7b", input_mtok=D(1), output_mtok=D(1))]
    )
    out = priced(row("r", "in-house-7b", input_tokens=M, output_tokens=M), config=config)["r"]
    assert (out["list_cost_usd"], out["pricing_status"], out["model"]) == (D(2), "override", "in-house-7b")


# --- discounts, unknown models, currencies --------------------------------------------------------


def test_provider_discount_applies_to_estimated_cost_not_list_cost(acme: None) -> None:
    config = PricingConfig(discounts={"acme": D(20)})
    out = priced(
        row("est", "acme-flat", input_tokens=M, output_tokens=M),
        row("other", "acme-flat", provider="acme-cloud", input_tokens=M, output_tokens=M),
        row(
            "billed",
            "acme-flat",
            input_tokens=M,
            output_tokens=M,
            cost_source="billed",
            billed_cost=D("2.5"),
            billing_currency="USD",
        ),
        config=config,
    )
    assert (out["est"]["list_cost_usd"], out["est"]["cost_usd"]) == (D(3), D("2.4"))
    assert (out["other"]["list_cost_usd"], out["other"]["cost_usd"]) == (D(3), D(3))
    # a bill is what was paid: the discount is already in it
    assert (out["billed"]["list_cost_usd"], out["billed"]["cost_usd"]) == (D(3), D("2.5"))


def test_unknown_model_is_unpriced_with_null_cost_never_zero(acme: None) -> None:
    out = priced(
        row("unknown", "no-such-model", input_tokens=1_000, output_tokens=10),
        row("unknown-provider", "acme-flat", provider="nobody", input_tokens=1_000),
        row("free", "acme-free", input_tokens=1_000),
        row("voice", "acme-voice", input_tokens=1_000),
        row("no-tokens", "no-such-model"),
        row("known-no-tokens", "acme-flat", input_tokens=0, output_tokens=0),
    )
    for key in ("unknown", "unknown-provider", "free", "voice"):
        assert (out[key]["pricing_status"], out[key]["list_cost_usd"], out[key]["cost_usd"]) == (
            "unpriced",
            None,
            None,
        ), key
    assert out["unknown"]["model"] == "no-such-model"  # model falls back to model_raw
    assert out["free"]["model"] == "acme-free"  # known to the book, but with no token price
    assert (out["no-tokens"]["pricing_status"], out["no-tokens"]["list_cost_usd"]) == ("none", None)
    assert out["known-no-tokens"]["pricing_status"] == "none"
    comps = components(row("unknown", "no-such-model", input_tokens=1_000))
    assert comps["unknown"]["priced"] is False and comps["unknown"]["model_id"] is None


def test_billed_rows_in_other_currencies_convert_with_config_fx(acme: None) -> None:
    config = PricingConfig(fx={"EUR": D("1.08"), "usd": D(2)})
    billed = {"cost_source": "billed", "input_tokens": M}
    out = priced(
        row("eur", "acme-flat", billed_cost=D(10), billing_currency="EUR", **billed),
        row("eur-lower", "acme-flat", billed_cost=D(10), billing_currency="eur", **billed),
        row("gbp", "acme-flat", billed_cost=D(10), billing_currency="GBP", **billed),
        row("usd", "acme-flat", billed_cost=D("10.123456789012345678"), billing_currency="USD", **billed),
        row("allocated", "acme-flat", cost_source="allocated", cost_usd=D(7), input_tokens=M),
        config=config,
    )
    assert out["eur"]["cost_usd"] == out["eur-lower"]["cost_usd"] == D("10.8")
    assert out["gbp"]["cost_usd"] is None  # no rate: left NULL, never guessed
    assert out["gbp"]["billed_cost"] == D(10)
    assert out["usd"]["cost_usd"] == D("10.123456789012345678")  # USD is 1, whatever the config says
    assert out["allocated"]["cost_usd"] == D(7)
    assert all(r["list_cost_usd"] == D(1) for r in out.values())  # list cost is independent of the bill


# --- resolution, reasoning, requests ------------------------------------------------------------------


def test_fallback_models_are_priced_from_the_provider_that_lists_them(acme: None) -> None:
    """genai-prices answers a reseller's lookup with the original provider's model; the book's rows
    are keyed by that provider (regression: such rows used to resolve but stay unpriced)."""
    out = components(
        row("fallback", "acme-flat", provider="acme-cloud", input_tokens=M, output_tokens=M),
        row("own", "acme-cloud-own", provider="acme-cloud", input_tokens=M, output_tokens=M),
    )
    assert (out["fallback"]["model_id"], out["fallback"]["priced"], io(out["fallback"])) == (
        "acme-flat",
        True,
        (D(1), D(2)),
    )
    assert io(out["fallback"]) == reference("acme-flat", provider="acme-cloud", input_tokens=M, output_tokens=M)
    assert io(out["own"]) == (D(7), D(7))
    assert PriceBook().resolve("acme-cloud", None, "acme-flat") == ("acme", "acme-flat")


def test_publisher_is_the_second_choice(acme: None) -> None:
    out = components(row("r", "acme-flat", provider="some-reseller", publisher="acme", input_tokens=M))
    assert (out["r"]["model_id"], out["r"]["input_usd"]) == ("acme-flat", D(1))


def test_reasoning_tokens_use_the_reasoning_price_when_there_is_one(acme: None) -> None:
    usage = {"input_tokens": 1_000, "output_tokens": M, "output_reasoning_tokens": 400_000}
    ledger = {"input_tokens": 1_000, "output_tokens": M, "reasoning_tokens": 400_000}
    out = components(row("own-price", "acme-reasoning", **ledger), row("output-price", "acme-flat", **ledger))
    # 600k output at $8 + 400k reasoning at $3
    assert out["own-price"]["output_usd"] == D("4.8") + D("1.2")
    assert io(out["own-price"]) == reference("acme-reasoning", **usage)
    assert out["output-price"]["output_usd"] == D(2)  # no reasoning price: reasoning is output


def test_request_fees_are_a_separate_component(acme: None) -> None:
    out = components(row("r", "acme-requests", input_tokens=M, output_tokens=M, requests=2_000))
    assert (out["r"]["input_usd"], out["r"]["output_usd"], out["r"]["requests_usd"]) == (D(1), D(1), D(10))


def test_many_rows_in_one_call(acme: None) -> None:
    rows = [row(f"r{i}", "acme-flat", input_tokens=i, output_tokens=2 * i) for i in range(5_000)]
    out = components(*rows)
    assert out["r4999"]["input_usd"] == D("0.004999")
    assert out["r4999"]["output_usd"] == D("0.019996")
    assert sum(r["input_usd"] for r in out.values()) == D(sum(range(5_000))) / M


# --- the bundled genai-prices data --------------------------------------------------------------------


def test_bundled_fallback_provider_is_priced_like_calc_price() -> None:
    """Azure resells Anthropic and OpenAI models (genai-prices' fallback_model_providers)."""
    rows = [
        row("claude", "claude-sonnet-4-5-20250929", provider="azure", input_tokens=2_743, output_tokens=4),
        row("gpt", "gpt-5-2025-08-07", provider="azure", input_tokens=45, output_tokens=1_719),
        row("google-claude", "claude-sonnet-4-5-20250929", provider="google", input_tokens=2_743, output_tokens=4),
    ]
    out = components(*rows)
    for r in rows:
        got = out[r["row_id"]]
        assert got["priced"], r
        assert io(got) == reference(
            r["model_raw"], provider=r["provider"], input_tokens=r["input_tokens"], output_tokens=r["output_tokens"]
        )


def test_bundled_long_context_and_reasoning_match_calc_price() -> None:
    out = components(
        row("long", "claude-sonnet-4-5", provider="anthropic", input_tokens=401_468, output_tokens=792),
        row(
            "sdr",
            "sonar-deep-research",
            provider="perplexity",
            input_tokens=1_000,
            output_tokens=50_000,
            reasoning_tokens=30_000,
        ),
    )
    assert io(out["long"]) == reference(
        "claude-sonnet-4-5", provider="anthropic", input_tokens=401_468, output_tokens=792
    )
    assert io(out["sdr"]) == reference(
        "sonar-deep-research",
        provider="perplexity",
        input_tokens=1_000,
        output_tokens=50_000,
        output_reasoning_tokens=30_000,
    )
