"""Who a receipt's seller is: legal or display name -> ledger provider code, and whether it is an AI tool.

``provider`` is the vendor's canonical slug (``aispend.vendors.canonical_provider``), after this
table maps legal names to the product people know ("Anysphere, Inc." -> ``cursor``). A vendor in
:data:`AI_VENDORS` gets ``service_category = "AI and Machine Learning"``; one in
:data:`CATEGORIES` gets that category; any other vendor's lines stay uncategorized (NULL) unless
the line itself names an AI product (:data:`AI_WORDS`: Copilot, GPT, Claude, tokens, ...).

To say that a vendor is an AI tool: add it to :data:`AI_VENDORS` (and its legal name to
:data:`ALIASES`) in a pull request, or import its invoices as a CSV with a ``service_category``
column (docs/sources/receipt.md).
"""

from __future__ import annotations

import re

from ...vendors import canonical_provider

AI_CATEGORY = "AI and Machine Learning"

# Lower-cased legal or display names (company suffixes removed) -> provider code.
ALIASES = {
    "anysphere": "cursor",
    "cursor": "cursor",
    "openai": "openai",
    "openai opco": "openai",
    "anthropic": "anthropic",
    "midjourney": "midjourney",
    "perplexity": "perplexity",
    "perplexity ai": "perplexity",
    "elevenlabs": "elevenlabs",
    "eleven labs": "elevenlabs",
    "openrouter": "openrouter",
    "replicate": "replicate",
    "together computer": "together",
    "together ai": "together",
    "fireworks ai": "fireworks",
    "groq": "groq",
    "mistral ai": "mistral",
    "cohere": "cohere",
    "pinecone systems": "pinecone",
    "pinecone": "pinecone",
    "codeium": "windsurf",
    "exafunction": "windsurf",
    "windsurf": "windsurf",
    "runway ai": "runway",
    "runwayml": "runway",
    "jasper ai": "jasper",
    "character technologies": "character-ai",
    "deepgram": "deepgram",
    "assemblyai": "assemblyai",
    "hugging face": "huggingface",
    "huggingface": "huggingface",
    "lovable labs": "lovable",
    "lovable": "lovable",
    "tabnine": "tabnine",
    "github": "github",
    "x.ai": "xai",
    "xai": "xai",
    "deepseek": "deepseek",
}

AI_VENDORS = frozenset({
    "openai", "anthropic", "cursor", "midjourney", "perplexity", "elevenlabs", "openrouter", "replicate",
    "together", "fireworks", "groq", "mistral", "cohere", "windsurf", "runway", "jasper", "character-ai",
    "deepgram", "assemblyai", "huggingface", "lovable", "tabnine", "xai", "deepseek",
})
CATEGORIES = {"pinecone": "Databases"}

# A line of a vendor that sells more than AI (GitHub: Copilot and Actions) is AI when it says so.
AI_WORDS = re.compile(r"\b(?:copilot|gpt[- ]?\d|claude|gemini|llm|ai credits?|tokens?)\b", re.IGNORECASE)

_SUFFIX = re.compile(r"[,.]?\s+(?:inc|llc|l\.l\.c|ltd|limited|corp|corporation|co|gmbh|sas|s\.a\.s|sarl|bv|b\.v|"
                     r"pbc|plc|pte|pty|ag|ab|oy|as|sa|s\.a|kk|k\.k)\.?$", re.IGNORECASE)


def provider_of(vendor: str) -> str | None:
    """'Anysphere, Inc.' -> 'cursor'; 'OpenAI, LLC' -> 'openai'; unknown names -> their slug."""
    name = vendor.strip().lower()
    for _ in range(2):  # "Acme Labs, Inc." -> "acme labs"
        name = _SUFFIX.sub("", name).strip()
    return ALIASES.get(name) or canonical_provider(name)


def service_category(provider: str | None, description: str = "") -> str | None:
    if provider in AI_VENDORS:
        return AI_CATEGORY
    if provider in CATEGORIES:
        return CATEGORIES[provider]
    if AI_WORDS.search(description):
        return AI_CATEGORY
    return None
