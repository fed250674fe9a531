"""Human in the loop with LangGraph, traced by threadline: a pause and its resume read as one conversation.

    python examples/langgraph_hitl.py
    threadline sessions                        # the thread: 2 traces, 1 interrupted, 0 errors
    threadline session hitl-demo-thread        # "interrupted: ..." then "resumed with: ..."

An assistant drafts an email; before it is sent, the graph pauses with
``interrupt()`` for a human to approve or edit it, and is resumed with
``Command(resume=...)``. The LangGraph thread id is the session: no other
line of threadline code than ``instrument()``.

Runs offline: the chat model is a small stand-in that reports token usage as
``gpt-4o-mini`` does, so the cost column has real numbers. Swap in
``langchain_openai.ChatOpenAI(model="gpt-4o-mini")`` for the real thing.
"""

from __future__ import annotations

from typing import Any, TypedDict

import threadline

threadline.instrument()  # every installed integration; spans go to the local store ($THREADLINE_DB)

from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.types import Command, interrupt  # noqa: E402

THREAD_ID = "hitl-demo-thread"


class OfflineChatModel(BaseChatModel):
    """Writes a short email; reports usage and metadata the way ChatOpenAI does."""

    @property
    def _llm_type(self) -> str:
        return "offline-demo"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini", "ls_model_type": "chat"}

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        request = str(messages[-1].content)
        body = f"Hi Sam,\n\n{request.rstrip('.')}. Could you confirm by Friday?\n\nThanks,\nAlex"
        message = AIMessage(
            body,
            usage_metadata={"input_tokens": 58, "output_tokens": 31, "total_tokens": 89},
            response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class Email(TypedDict, total=False):
    request: str
    draft: str
    status: str


llm = OfflineChatModel()


def write(state: Email) -> dict[str, Any]:
    return {"draft": llm.invoke(state["request"]).content}


def approve(state: Email) -> dict[str, Any]:
    # The graph pauses here; the value passed to Command(resume=...) comes back from interrupt().
    decision = interrupt({"question": "Send this email?", "draft": state["draft"]})
    if decision.get("edit"):
        return {"draft": decision["edit"], "status": "approved with edits"}
    return {"status": "approved" if decision.get("approved") else "rejected"}


def send(state: Email) -> dict[str, Any]:
    return {"status": f"sent ({state['status']})" if state["status"] != "rejected" else "discarded"}


builder = StateGraph(Email)
builder.add_node("write", write)
builder.add_node("approve", approve)
builder.add_node("send", send)
builder.add_edge(START, "write")
builder.add_edge("write", "approve")
builder.add_edge("approve", "send")
builder.add_edge("send", END)
graph = builder.compile(checkpointer=InMemorySaver(), name="email_assistant")


def main() -> None:
    config = {"configurable": {"thread_id": THREAD_ID}, "metadata": {"user_id": "alex"}}
    paused = graph.invoke({"request": "Please send me the Q3 numbers."}, config)
    (question,) = paused["__interrupt__"]
    print(f"paused:  {question.value['question']}\n{question.value['draft']}\n")

    done = graph.invoke(Command(resume={"approved": True}), config)
    print(f"resumed: {done['status']}")

    threadline.flush()
    print(f"\nSee it: threadline sessions, then threadline session {THREAD_ID}")


if __name__ == "__main__":
    main()
