"""USD cost of a model call, from genai-prices, with a per-model rate cache.

A genai-prices lookup matches the model name against every provider's rules
(hundreds of microseconds uncached), so the resolved price of each
(provider, model) is cached. Users may override rates per model in USD per
million tokens. An unknown model gets no cost (never a made-up 0) and one
warning per model.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from threadline.usage import Usage

logger = logging.getLogger("threadline")

# gen_ai.provider.name values -> genai-prices provider ids
_PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "google": "google",
    "mistral_ai": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "cohere": "cohere",
}


@dataclass(frozen=True, slots=True)
class ModelRate:
    """A user's price for one model, in USD per million tokens.

    ``cache_write`` prices cache writes (five-minute writes, on Anthropic);
    ``cache_write_1h`` prices one-hour writes, which otherwise cost ``cache_write``.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one call in USD, split into input and output."""

    input: float
    output: float

    @property
    def total(self) -> float:
        """Input plus output."""
        return self.input + self.output


class _Unknown:
    pass


_UNKNOWN = _Unknown()


class Prices:
    """Resolves a (provider, model, usage) to a :class:`Cost`.

    ``overrides`` maps a model name (as reported by the call) to a
    :class:`ModelRate` or a mapping with the same keys; overrides win over the
    pricing library and need no provider. An override for ``gpt-4o-mini`` also
    prices its dated snapshots (``gpt-4o-mini-2024-07-18``) unless those have
    their own.
    """

    def __init__(self, overrides: Mapping[str, ModelRate | Mapping[str, float]] | None = None) -> None:
        self._overrides: dict[str, ModelRate] = {}
        for model, rate in (overrides or {}).items():
            self._overrides[model] = rate if isinstance(rate, ModelRate) else ModelRate(**rate)
        self._cache: dict[tuple[str | None, str], Any] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        _import_pricing_library()

    def cost(self, provider: str | None, model: str | None, usage: Usage | None) -> Cost | None:
        """The cost of ``usage`` on ``model``, or ``None`` when it cannot be known."""
        if not model or usage is None or usage.is_empty:
            return None
        override = None
        if self._overrides:
            override = self._overrides.get(model) or self._overrides.get(_undated(model))
        if override is not None:
            return _cost_from_rate(override, usage)
        key = (provider, model)
        price = self._cache.get(key)
        if price is None:
            price = self._lookup(provider, model)
            with self._lock:
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = price
        if price is _UNKNOWN:
            return None
        if type(price) is _Rates:  # flat prices, resolved once per model
            return _cost(usage, price)
        return _cost_from_table(price, usage)

    def _lookup(self, provider: str | None, model: str) -> Any:
        try:
            from genai_prices.data_snapshot import get_snapshot

            provider_id = _PROVIDER_IDS.get(provider or "", None)
            snapshot = get_snapshot()
            try:
                prov, info = snapshot.find_provider_model(model, None, provider_id, None)
            except LookupError:
                if provider_id is None:
                    raise
                prov, info = snapshot.find_provider_model(model, None, None, None)
            del prov
            prices = info.get_prices(datetime.now(tz=timezone.utc)).__dict__
            table = _RateTable(
                input=prices.get("input_mtok"),
                output=prices.get("output_mtok"),
                cache_read=prices.get("cache_read_mtok"),
                cache_write=prices.get("cache_write_mtok"),
                cache_write_1h=prices.get("cache_write_1h_mtok"),
            )
            return _flat_rates(table) or table
        except Exception:  # noqa: BLE001 - LookupError, or the library missing
            if model not in self._warned:
                self._warned.add(model)
                logger.warning(
                    "threadline: no price known for model %r (provider %r); its calls get no cost. "
                    "Pass prices={%r: {...}} to threadline.instrument() to set one.",
                    model,
                    provider,
                    model,
                )
            return _UNKNOWN


def _import_pricing_library() -> None:
    """Import genai-prices now (when instrumenting), not at the first priced call.

    Importing it imports an HTTP client library (httpx2). Done lazily on one
    application thread while others call an SDK that looks that library up in
    ``sys.modules`` (the openai SDK does, on every request), those threads
    would see a half-initialised module and fail.
    """
    try:
        import genai_prices.data_snapshot  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken: _lookup warns per model
        pass


_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


def _undated(model: str) -> str:
    """``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``: an override for the alias covers its snapshots."""
    return _DATE_SUFFIX.sub("", model)


@dataclass(frozen=True, slots=True)
class _RateTable:
    """genai-prices' per-million-token prices for one model; each a Decimal or tiered.

    As in genai-prices' unit tree, ``cache_write_1h`` prices the one-hour part
    of the cache writes and ``cache_write`` the rest; a missing rate falls back
    to its parent's (one-hour writes to cache writes, cache writes to input).
    """

    input: Any
    output: Any
    cache_read: Any
    cache_write: Any
    cache_write_1h: Any = None


def _unit_price(price: Any, total_input: int) -> Decimal:
    """A flat price, or the tier that applies at this many input tokens (as genai-prices does)."""
    if price is None:
        return Decimal(0)
    if isinstance(price, Decimal):
        return price
    chosen = price.base
    for tier in price.tiers:
        if total_input > tier.start:
            chosen = tier.price
    return chosen


def _flat_rates(table: _RateTable) -> _Rates | None:
    """The rates of a table without tiers (the same for every call), or ``None`` when a price is tiered."""
    if any(p is not None and not isinstance(p, Decimal) for p in (table.input, table.output, table.cache_read)):
        return None
    if any(p is not None and not isinstance(p, Decimal) for p in (table.cache_write, table.cache_write_1h)):
        return None
    return _rates_at(table, 0)


def _cost_from_table(table: _RateTable, usage: Usage) -> Cost:
    return _cost(usage, _rates_at(table, usage.input_tokens or 0))


def _rates_at(table: _RateTable, total_in: int) -> _Rates:
    in_rate = _unit_price(table.input, total_in)
    read_rate = _unit_price(table.cache_read, total_in) if table.cache_read is not None else in_rate
    write_rate = _unit_price(table.cache_write, total_in) if table.cache_write is not None else in_rate
    write_1h_rate = _unit_price(table.cache_write_1h, total_in) if table.cache_write_1h is not None else write_rate
    return _Rates(in_rate, _unit_price(table.output, total_in), read_rate, write_rate, write_1h_rate)


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per million tokens of each kind, for one call."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal


def _cost(usage: Usage, rates: _Rates) -> Cost:
    per = Decimal(1_000_000)
    read = usage.cache_read_tokens or 0
    write = usage.cache_write_tokens or 0
    write_1h = min(usage.cache_write_1h_tokens or 0, write)
    uncached = max(0, (usage.input_tokens or 0) - read - write)
    in_cost = (
        uncached * rates.input
        + read * rates.cache_read
        + (write - write_1h) * rates.cache_write
        + write_1h * rates.cache_write_1h
    )
    out_cost = (usage.output_tokens or 0) * rates.output
    return Cost(input=float(in_cost / per), output=float(out_cost / per))


def _cost_from_rate(rate: ModelRate, usage: Usage) -> Cost:
    in_rate = _decimal(rate.input)
    write_rate = _decimal(rate.cache_write, in_rate)
    return _cost(
        usage,
        _Rates(
            in_rate,
            _decimal(rate.output),
            _decimal(rate.cache_read, in_rate),
            write_rate,
            _decimal(rate.cache_write_1h, write_rate),
        ),
    )


def _decimal(value: float | None, default: Decimal = Decimal(0)) -> Decimal:
    return default if value is None else Decimal(str(value))
