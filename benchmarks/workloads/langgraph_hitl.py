"""LangGraph human in the loop: a run that interrupts for review, then its resume, on one thread.

Each call is one full cycle: ``invoke(input)`` pauses at ``interrupt()``,
``invoke(Command(resume="approve"))`` finishes; the thread is then deleted from
the in-memory checkpointer so memory stays flat. Two traces per cycle.
"""

from __future__ import annotations

from benchmarks import apps
from benchmarks.harness import Config, Row
from benchmarks.pipelines import default_and_in_memory, require


def run(cfg: Config) -> list[Row]:
    """Uninstrumented vs threadline with the default exporter."""
    require("langgraph", "threadline_langgraph")
    cycle = apps.hitl_cycle(*apps.hitl_graph())
    return default_and_in_memory(cfg, "langgraph HITL (interrupt + resume)", "hitl", cycle, unit="cycle")
