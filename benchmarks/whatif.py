"""What-if experiments behind the suggestions in ``benchmarks/README.md`` (not part of the report).

``python -m benchmarks.whatif`` times the LangGraph turn and the OpenAI call
with threadline and an in-memory exporter, as shipped and with the attributes
that only repeat another attribute's value filtered out before they reach
the OpenTelemetry SDK (the OpenInference mirrors of ``gen_ai.*`` names, the
``gen_ai.*.messages`` copies of ``input.value`` / ``output.value``, and
``gen_ai.conversation.id`` next to ``session.id``). The difference is what
emitting them costs on the caller's thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

from benchmarks import apps, report
from benchmarks.harness import Config, Row, Variant, compare
from benchmarks.pipelines import threadline_in_memory
from benchmarks.workloads.langgraph_turn import turn_call

# Attributes whose value is always another attribute's value on the same span.
DUPLICATES = frozenset(
    {
        "openinference.span.kind",
        "llm.provider",
        "llm.model_name",
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.total",
        "llm.token_count.prompt_details.cache_read",
        "llm.token_count.prompt_details.cache_write",
        "llm.token_count.completion_details.reasoning",
        "llm.cost.total",
        "llm.cost.prompt",
        "llm.cost.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.conversation.id",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)


def without_duplicates() -> Variant:
    """threadline in-memory, with :data:`DUPLICATES` dropped at the SDK's door."""
    from opentelemetry.sdk.trace import Tracer, _Span

    base = threadline_in_memory()
    original_start, original_set = Tracer.start_span, _Span.set_attributes

    def start_span(self: Any, *args: Any, **kwargs: Any) -> Any:
        attributes = kwargs.get("attributes")  # the emitter passes everything by keyword
        if attributes:
            kwargs["attributes"] = {k: v for k, v in attributes.items() if k not in DUPLICATES}
        return original_start(self, *args, **kwargs)

    def set_attributes(self: Any, attributes: Any) -> None:
        original_set(self, {k: v for k, v in attributes.items() if k not in DUPLICATES})

    def setup() -> None:
        base.setup()
        Tracer.start_span = start_span  # type: ignore[method-assign]
        _Span.set_attributes = set_attributes  # type: ignore[method-assign]

    def teardown() -> None:
        Tracer.start_span = original_start  # type: ignore[method-assign]
        _Span.set_attributes = original_set  # type: ignore[method-assign]
        base.teardown()

    return Variant(
        "threadline (in-memory exporter), duplicate attributes dropped",
        setup=setup,
        teardown=teardown,
        finish=base.finish,
        count_spans=base.count_spans,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and print a markdown table."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.whatif")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--block-seconds", type=float, default=0.4)
    a = p.parse_args(argv)
    cfg = Config(rounds=a.rounds, block_seconds=a.block_seconds)
    cfg.log = lambda msg: print(msg, file=sys.stderr, flush=True)
    os.environ["THREADLINE_DB"] = os.path.join(tempfile.mkdtemp(prefix="threadline-whatif-"), "t.db")
    rows: list[Row] = []
    graph = apps.turn_graph()
    rows += compare(
        "langgraph turn", turn_call(graph)(None), [threadline_in_memory(), without_duplicates()], cfg, unit="turn"
    )
    client = apps.openai_client()

    def plain(i: int) -> Any:
        return client.chat.completions.create(model=apps.MODEL, messages=apps.MESSAGES)

    rows += compare("openai chat.completions.create", plain, [threadline_in_memory(), without_duplicates()], cfg)
    print(report.markdown(rows, {**report.environment(cfg), "load_start": None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
