"""Canonical provider codes, shared by every normalizer and the price book."""

from __future__ import annotations

import re

_PROVIDER_ALIASES = {
    "aws": "aws",
    "amazon": "aws",
    "amazon web services": "aws",
    "amazon web services, inc.": "aws",
    "amazon bedrock": "aws",
    "microsoft": "azure",
    "microsoft azure": "azure",
    "azure": "azure",
    "google": "gcp",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "gcp": "gcp",
    "oracle": "oracle",
    "oracle cloud infrastructure": "oracle",
    "oci": "oracle",
    "openai": "openai",
    "anthropic": "anthropic",
    "anthropic, pbc": "anthropic",
    "openai, inc.": "openai",
    "oracle corporation": "oracle",
    "google llc": "gcp",
    "microsoft corporation": "azure",
}

# The price book (genai-prices) names some billers differently from the ledger.
_BOOK_PROVIDER = {"gcp": "google"}


def canonical_provider(name: str | None) -> str | None:
    """'Amazon Web Services' -> 'aws'; unknown names become a lower-case slug."""
    if name is None:
        return None
    key = name.strip().lower()
    if not key:
        return None
    return _PROVIDER_ALIASES.get(key) or re.sub(r"[^a-z0-9]+", "-", key).strip("-")


def book_provider(provider: str) -> str:
    return _BOOK_PROVIDER.get(provider, provider)


def provider_sql_case(column: str) -> str:
    """The same mapping as :func:`canonical_provider`, as a SQL expression over ``column``."""
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _PROVIDER_ALIASES.items())
    key = f"lower(trim({column}))"
    slug = f"trim(regexp_replace({key}, '[^a-z0-9]+', '-', 'g'), '-')"
    return f"(CASE {key} {whens} ELSE nullif({slug}, '') END)"
