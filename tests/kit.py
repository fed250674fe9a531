"""Helpers shared by test folders: what a span may only carry when content capture is on."""

from __future__ import annotations

from threadline import semconv as sc

CONTENT_ATTRIBUTES = (
    sc.OI_INPUT_VALUE,
    sc.OI_OUTPUT_VALUE,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_TOOL_CALL_RESULT,
    sc.INTERRUPT_VALUES,
    sc.RESUME_VALUE,
)
"""The attributes that carry prompts, completions, tool I/O and human-in-the-loop values."""
