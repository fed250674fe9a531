"""threadline for the OpenAI SDK."""

from __future__ import annotations

from threadline_openai._integration import OpenAIIntegration

__all__ = ["OpenAIIntegration"]
