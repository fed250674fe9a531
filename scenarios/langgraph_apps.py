"""The LangGraph apps: real ``StateGraph``s whose only fake is the chat model.

- :func:`turn_graph`: one conversational turn, START → prepare → model → finish → END
  (5 spans a turn: the graph, 3 nodes, the chat model);
- :func:`review_graph`: draft → review (``interrupt()`` for a human) → publish;
- :func:`support_graph`: a model answers, then a human approves (``interrupt``),
  sync or async, optionally calling a tool or failing in its node;
- :func:`shout_graph`: one node with a checkpointer (the smallest traced graph).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

Node = Callable[[Any], Any]


def linear_graph(state: type, nodes: Sequence[Node | tuple[str, Node]], **compile_kwargs: Any) -> Any:
    """START → each of ``nodes`` in turn → END, compiled; a node is named after its function or ``(name, node)``."""
    named = [node if isinstance(node, tuple) else (node.__name__, node) for node in nodes]
    builder = StateGraph(state)
    builder.add_sequence(named)
    builder.add_edge(START, named[0][0])
    builder.add_edge(named[-1][0], END)
    return builder.compile(**compile_kwargs)


class Turn(TypedDict, total=False):
    """The state of a turn: the question, the messages sent, the answer and its word count."""

    question: str
    messages: list[Any]
    answer: str
    words: int


def turn_graph(llm: Any, **compile_kwargs: Any) -> Any:
    """START → prepare → model → finish → END; ``model`` calls ``llm`` (a LangChain chat model)."""

    def prepare(state: Turn) -> dict[str, Any]:
        return {"messages": [SystemMessage("You are terse."), HumanMessage(state["question"])]}

    def model(state: Turn) -> dict[str, Any]:
        return {"answer": llm.invoke(state["messages"]).content}

    def finish(state: Turn) -> dict[str, Any]:
        return {"words": len(state["answer"].split())}

    return linear_graph(Turn, [prepare, model, finish], **compile_kwargs)


def turn_config(i: int, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """The config of turn ``i``: 16 conversation threads in rotation."""
    config: dict[str, Any] = {"configurable": {"thread_id": f"thread-{i % 16}"}}
    if callbacks:
        config["callbacks"] = callbacks
    return config


class Review(TypedDict, total=False):
    """The state of a review: the topic, the draft, the human's verdict, whether it was published."""

    topic: str
    draft: str
    verdict: str
    published: bool


REVIEW_QUESTION = "Publish this draft?"


def review_graph(checkpointer: Any = None, **compile_kwargs: Any) -> Any:
    """draft → review (``interrupt()`` asks a human) → publish; an ``InMemorySaver`` unless given one."""

    def draft(state: Review) -> dict[str, Any]:
        return {"draft": f"A short post about {state['topic']}."}

    def review(state: Review) -> dict[str, Any]:
        verdict = interrupt({"question": REVIEW_QUESTION, "draft": state["draft"]})
        return {"verdict": str(verdict)}

    def publish(state: Review) -> dict[str, Any]:
        return {"published": state["verdict"] == "approve"}

    saver = checkpointer if checkpointer is not None else InMemorySaver()
    return linear_graph(Review, [draft, review, publish], checkpointer=saver, **compile_kwargs)


class Text(TypedDict):
    """One string."""

    text: str


def shout_graph(node: Node | None = None) -> Any:
    """One node (``shout``: the text upper-cased, or ``node`` in its place) with an ``InMemorySaver``."""

    def shout(state: Text) -> dict[str, str]:
        return {"text": state["text"].upper()}

    builder = StateGraph(Text)
    builder.add_node("shout", node or shout)
    builder.add_edge(START, "shout")
    builder.add_edge("shout", END)
    return builder.compile(checkpointer=InMemorySaver())


def support_graph(
    llm: Any,
    *,
    is_async: bool = False,
    node_error: BaseException | None = None,
    name: str = "support",
    question: Any = None,
    tool: Any = None,
    tool_input: Any = None,
) -> Any:
    """A real ``StateGraph`` (``InMemorySaver``): the model answers, then a human approves (``interrupt``).

    With ``is_async`` the model node is a coroutine (``ainvoke`` all the way down).
    ``question`` is the interrupt payload; ``tool`` (a LangChain tool) is
    called with ``tool_input`` by the model node, its result kept in ``facts``.
    """
    from typing import Annotated

    from langgraph.graph.message import add_messages

    # The functional form: its types are evaluated here (this module has postponed annotations).
    State = TypedDict(  # noqa: UP013
        "State", {"messages": Annotated[list, add_messages], "approved": Any, "facts": Any}, total=False
    )
    payload = question if question is not None else {"question": "Send this answer?"}

    def agent(state: State) -> dict[str, Any]:
        if node_error is not None:
            raise node_error
        update: dict[str, Any] = {"messages": [llm.invoke(state["messages"])]}
        if tool is not None:
            update["facts"] = tool.invoke(tool_input)
        return update

    async def aagent(state: State) -> dict[str, Any]:
        if node_error is not None:
            raise node_error
        update: dict[str, Any] = {"messages": [await llm.ainvoke(state["messages"])]}
        if tool is not None:
            update["facts"] = await tool.ainvoke(tool_input)
        return update

    def review(state: State) -> dict[str, Any]:
        return {"approved": interrupt(payload)}

    nodes = [("agent", aagent if is_async else agent), review]
    return linear_graph(State, nodes, checkpointer=InMemorySaver(), name=name)
