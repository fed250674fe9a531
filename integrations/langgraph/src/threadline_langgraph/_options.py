"""Options of the LangGraph integration (no LangGraph import: read before LangGraph is)."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("threadline")

NODE_INPUTS_VARIABLE = "THREADLINE_LANGGRAPH_NODE_INPUTS"


class Options:
    """Integration options (set by ``LangGraphIntegration.instrument(...)`` or environment variables).

    ``node_inputs`` (``THREADLINE_LANGGRAPH_NODE_INPUTS``): ``"update"`` by
    default, ``"full"`` to record each node's input. A node's input is the
    whole graph state, already recorded as the turn's input (on the root) and
    as the outputs (updates) of the nodes before it; recording it again on
    every node made each turn's cost grow with the conversation. By default a
    node span records its update (its output) and the checkpoint it ran from
    (``semconv.GRAPH_CHECKPOINT_ID``); a ``Send`` task's input, which is
    not the state, is always recorded.
    """

    full_node_inputs: bool = False

    @classmethod
    def load(cls, node_inputs: str | None = None) -> None:
        """Set the options from arguments, falling back to the environment."""
        value = node_inputs if node_inputs is not None else os.environ.get(NODE_INPUTS_VARIABLE, "")
        choice = str(value).strip().lower()
        if choice not in ("", "update", "full"):
            logger.warning("threadline: %s=%r is not 'update' or 'full'; using 'update'", NODE_INPUTS_VARIABLE, value)
        cls.full_node_inputs = choice == "full"
