"""What every event parser shares: attribute names, provider names, token rules, key ids.

Attribution fields come from attributes the application sets. Each field has an ordered list of
attribute names, first non-empty hit wins; ``[events.attributes]`` in aispend.toml replaces a
field's list. The defaults read aispend's own names first, then common conventions:

=============  ==========================================================================
field          attribute names, in order
=============  ==========================================================================
customer       aispend.customer, customer.id, enduser.id, customer
feature        aispend.feature, app.feature, feature
experiment     aispend.experiment, experiment.id, app.experiment, experiment
branch         aispend.branch, vcs.ref.head.name, git.branch, branch
project        aispend.project, project
api_key_id     aispend.api_key_id
environment    aispend.environment, deployment.environment.name, deployment.environment, environment
service        aispend.service, service.name
=============  ==========================================================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..config import EventsSettings
from ..vendors import canonical_provider

DEFAULT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "customer": ("aispend.customer", "customer.id", "enduser.id", "customer"),
    "feature": ("aispend.feature", "app.feature", "feature"),
    "experiment": ("aispend.experiment", "experiment.id", "app.experiment", "experiment"),
    "branch": ("aispend.branch", "vcs.ref.head.name", "git.branch", "branch"),
    "project": ("aispend.project", "project"),
    "api_key_id": ("aispend.api_key_id",),
    "environment": ("aispend.environment", "deployment.environment.name", "deployment.environment", "environment"),
    "service": ("aispend.service", "service.name"),
}
# Fields that are event columns; the others (branch) go into the attributes JSON.
COLUMN_FIELDS = ("customer", "feature", "experiment", "project", "api_key_id", "environment", "service")


class RowProblem(ValueError):
    """One record cannot become an event: which field and why (never the value: it may be secret)."""

    def __init__(self, column: str | None, reason: str):
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class AttributeMap:
    """Field -> attribute names to look for, in order."""

    names: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_settings(cls, events: EventsSettings | None = None) -> AttributeMap:
        configured = {k: tuple(v) for k, v in (events.attributes if events else {}).items()}
        return cls({**DEFAULT_ATTRIBUTES, **configured})

    def pick(self, field: str, *scopes: Mapping[str, Any]) -> str | None:
        """The first non-empty value of ``field``'s names, scope by scope (nearest scope first)."""
        for scope in scopes:
            for name in self.names.get(field, ()):
                value = scope.get(name)
                if value is not None and value != "" and not isinstance(value, (dict, list)):
                    return _text(value)
        return None

    def consumed(self) -> set[str]:
        return {n for names in self.names.values() for n in names}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


# GenAI semantic-convention provider names (gen_ai.provider.name / gen_ai.system) and LiteLLM's
# custom_llm_provider, mapped to the ledger's biller codes. Unknown names become a slug.
_PROVIDERS = {
    "aws.bedrock": "aws", "bedrock": "aws", "bedrock_converse": "aws", "sagemaker": "aws",
    "azure.ai.openai": "azure", "az.ai.openai": "azure", "azure.ai.inference": "azure", "az.ai.inference": "azure",
    "azure": "azure", "azure_ai": "azure", "azure_text": "azure",
    "gcp.vertex_ai": "gcp", "gcp.gemini": "gcp", "gcp.gen_ai": "gcp", "vertex_ai": "gcp", "vertex_ai_beta": "gcp",
    "gemini": "gcp", "google": "gcp",
    "openai": "openai", "text-completion-openai": "openai", "anthropic": "anthropic",
    "mistral_ai": "mistral", "mistral": "mistral", "x_ai": "xai", "xai": "xai", "ibm.watsonx.ai": "ibm",
    "watsonx": "ibm", "cohere": "cohere", "cohere_chat": "cohere", "groq": "groq", "deepseek": "deepseek",
    "perplexity": "perplexity", "openrouter": "openrouter", "together_ai": "together", "fireworks_ai": "fireworks",
}


def event_provider(name: str | None) -> str | None:
    if name is None or not str(name).strip():
        return None
    key = str(name).strip().lower()
    return _PROVIDERS.get(key) or canonical_provider(key)


# OpenAI's service_tier values and the ledger's tiers.
_TIERS = {"default": "standard", "auto": "standard", "standard": "standard", "scale": "standard",
          "flex": "flex", "priority": "priority", "batch": "batch"}


def service_tier(value: Any) -> str | None:
    return None if value is None else _TIERS.get(str(value).strip().lower())


def inclusive_tokens(tokens: dict[str, int | None]) -> dict[str, int | None]:
    """Bring counts to the ledger's semantics when a source reported them exclusive.

    Anthropic's API (and instrumentations that copy it) reports input tokens without the cached
    ones. When cache reads plus writes exceed the input count, the input cannot include them, so
    they are added; the same for reasoning above output. When the counts are consistent they are
    taken as inclusive, as the GenAI conventions and OpenAI define them.
    """
    out = dict(tokens)
    cached = (out.get("cache_read_tokens") or 0) + (out.get("cache_write_tokens") or 0)
    if cached > (out.get("input_tokens") or 0):
        out["input_tokens"] = (out.get("input_tokens") or 0) + cached
    reasoning = out.get("reasoning_tokens") or 0
    if reasoning > (out.get("output_tokens") or 0):
        out["output_tokens"] = (out.get("output_tokens") or 0) + reasoning
    return out


def token_count(value: Any) -> int | None:
    """A non-negative whole number of tokens, or None when absent; TypeError/ValueError when not a count."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("is a boolean, not a token count")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ValueError("is not a whole number")
        return int(value)
    if isinstance(value, (float, Decimal)):
        if value != int(value):
            raise ValueError("is not a whole number")
        value = int(value)
    if not isinstance(value, int):
        raise TypeError("is not a number")
    if value < 0:
        raise ValueError("is negative")
    return value


_SECRET_PREFIXES = ("sk-", "sk_", "rk_", "pk_", "AIza", "xai-", "gsk_", "AKIA", "ASIA", "Bearer ")
_HASH = re.compile(r"[0-9a-f]{64}")


def safe_key_id(value: Any) -> str | None:
    """An API key *id* safe to store: ids and hashes pass, anything that may be a key is hashed.

    LiteLLM logs a SHA-256 of its virtual key (64 hex digits): kept as it is, it is LiteLLM's id for
    the key. A value with a known secret prefix (``sk-``, ``AIza``, ``AKIA``, ...) or longer than 40
    characters may be a raw key: it becomes ``sha256:`` and 16 hex digits of its hash.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if _HASH.fullmatch(text):
        return text
    if text.startswith(_SECRET_PREFIXES) or len(text) > 40:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return text


def utc(value: datetime) -> datetime:
    """Naive UTC, as the store keeps timestamps; a naive input is taken as UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_time(value: Any) -> datetime:
    """ISO 8601 text (``Z`` or an offset; none means UTC) or Unix seconds; ValueError otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError("is not a time")
    if isinstance(value, (int, float, Decimal)):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    if isinstance(value, str):
        text = value.strip()
        try:
            return utc(datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text))
        except ValueError:
            raise ValueError("is not an ISO 8601 time") from None
    raise ValueError("is not a time")
