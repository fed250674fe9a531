"""Pause in one process, resume in another: a LangGraph graph with the SQLite checkpointer (a test helper).

Run with the repository root on ``PYTHONPATH`` (for ``scenarios``).
"""

import sqlite3
import sys
from typing import TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command, interrupt

import threadline
from scenarios.langgraph_apps import linear_graph


class State(TypedDict, total=False):
    draft: str
    decision: str


def write(state: State) -> State:
    return {"draft": "Dear customer, your refund is on its way."}


def review(state: State) -> State:
    return {"decision": interrupt({"question": "Send it?", "draft": state["draft"]})}


phase, db, checkpoints = sys.argv[1], sys.argv[2], sys.argv[3]
threadline.instrument(integrations=["langchain", "langgraph"])
graph = linear_graph(
    State, [write, review], checkpointer=SqliteSaver(sqlite3.connect(checkpoints, check_same_thread=False))
)
config = {"configurable": {"thread_id": "ticket-7"}}
if phase == "pause":
    out = graph.invoke({}, config)
    print("paused" if "__interrupt__" in out else "not paused")
else:
    out = graph.invoke(Command(resume="send it"), config)
    print("resumed", out.get("decision"))
threadline.flush()
threadline.shutdown()
