"""Pause in one process, resume in another: a LangGraph graph with the SQLite checkpointer (a test helper)."""

import sqlite3
import sys
from typing import TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

import threadline


class State(TypedDict, total=False):
    draft: str
    decision: str


def write(state: State) -> State:
    return {"draft": "Dear customer, your refund is on its way."}


def review(state: State) -> State:
    return {"decision": interrupt({"question": "Send it?", "draft": state["draft"]})}


phase, db, checkpoints = sys.argv[1], sys.argv[2], sys.argv[3]
threadline.instrument(integrations=["langchain", "langgraph"])
builder = StateGraph(State)
builder.add_node("write", write)
builder.add_node("review", review)
builder.add_edge(START, "write")
builder.add_edge("write", "review")
builder.add_edge("review", END)
graph = builder.compile(checkpointer=SqliteSaver(sqlite3.connect(checkpoints, check_same_thread=False)))
config = {"configurable": {"thread_id": "ticket-7"}}
if phase == "pause":
    out = graph.invoke({}, config)
    print("paused" if "__interrupt__" in out else "not paused")
else:
    out = graph.invoke(Command(resume="send it"), config)
    print("resumed", out.get("decision"))
threadline.flush()
threadline.shutdown()
