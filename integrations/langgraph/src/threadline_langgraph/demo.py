"""An offline customer-support agent built with LangGraph, to see threadline at work in seconds.

One conversation on one LangGraph thread, three customer turns:

1. "Where is my order?" - the agent calls the ``lookup_order`` tool and answers;
2. "It arrived damaged, can I get a refund?" - the agent wants to call
   ``issue_refund``; a human must approve it, so the graph pauses with
   ``interrupt()`` ... and is resumed with the supervisor's approval;
3. "Thanks!" - the agent closes the conversation.

That is four traces (the second turn is paused, then resumed) in one session,
the thread id. Everything is real LangGraph (``StateGraph``, ``ToolNode``,
``InMemorySaver``, ``interrupt``, ``Command``) except the model, faked at the
model boundary: :class:`SupportDeskModel` answers from a script and reports
the token usage ``gpt-4o-mini`` would (cached prompt tokens included), so the
cost shown is the real price of those tokens.

``threadline demo`` instruments threadline and calls :func:`run`; on its own::

    python -m threadline_langgraph.demo      # writes to the default store, then: threadline sessions
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt
from pydantic import PrivateAttr

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
CUSTOMER = "customer-4711"
ORDER = "A-1042"
SYSTEM_PROMPT = (
    "You are Ada, the support agent of Acme Outdoor. Be brief and friendly. Look orders up with the "
    "lookup_order tool before answering about them. Refunds need issue_refund, which a supervisor approves."
)
# The tokens of the system prompt and the tool schemas a real deployment sends with every call: past
# 1,024 tokens OpenAI serves the prompt prefix from its cache, which is what makes turns after the first cheaper.
PROMPT_OVERHEAD_TOKENS = 1_184
CACHE_BLOCK = 128

TURNS = (
    "Hi! Where is my order A-1042?",
    "It arrived damaged - the tent pole is snapped. Can I get a refund?",
    "Thanks, that's all!",
)
APPROVAL = {"approved": True, "by": "supervisor@acme.example", "note": "Photo of the damage checked."}


@tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look an order up: its items, status and delivery date."""
    return {
        "order_id": order_id,
        "items": ["Trail 2P tent"],
        "total": 189.0,
        "status": "delivered",
        "delivered_on": "2025-06-12",
        "carrier": "UPS",
    }


@tool
def issue_refund(order_id: str, amount: float, reason: str) -> str:
    """Refund (part of) an order to the customer's card. Needs a supervisor's approval."""
    refund_id = f"R-{sum(map(ord, order_id)) * 37 % 9000 + 1000}"
    return f"Refund {refund_id} of ${amount:.2f} issued for {order_id} ({reason})."


TOOLS = [lookup_order, issue_refund]


def _estimate_tokens(messages: Sequence[BaseMessage]) -> int:
    return PROMPT_OVERHEAD_TOKENS + sum(len(str(m.content)) // 4 + 4 for m in messages)


class SupportDeskModel(BaseChatModel):
    """A stand-in for ``gpt-4o-mini``: scripted replies, the usage and metadata ``ChatOpenAI`` reports."""

    model_name: str = MODEL
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "support-desk-demo"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {
            "ls_provider": "openai",
            "ls_model_name": self.model_name,
            "ls_model_type": "chat",
            "ls_temperature": 0.2,
        }

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind tools the way ``ChatOpenAI`` does, as OpenAI tool schemas (the script knows which to call)."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _reply(self, messages: Sequence[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            if last.name == "lookup_order":
                return AIMessage(
                    "Your order A-1042 (a Trail 2P tent) was delivered by UPS on June 12. Is everything all right "
                    "with it?"
                )
            if "not approved" in str(last.content):
                return AIMessage("I'm sorry, a supervisor could not approve the refund. I've opened a ticket instead.")
            return AIMessage(
                "Done! Your refund of $189.00 is on its way; it shows on your card within 3-5 business days. "
                "Sorry about the tent."
            )
        text = str(last.content).lower()
        if "refund" in text:
            return AIMessage(
                "",
                tool_calls=[
                    {
                        "name": "issue_refund",
                        "id": f"call_{self._calls}_refund",
                        "args": {"order_id": ORDER, "amount": 189.0, "reason": "arrived damaged"},
                    }
                ],
            )
        if "order" in text:
            return AIMessage(
                "",
                tool_calls=[{"name": "lookup_order", "id": f"call_{self._calls}_lookup", "args": {"order_id": ORDER}}],
            )
        return AIMessage("You're welcome! Enjoy your trip, and reach out anytime.")

    def _answer(self, messages: Sequence[BaseMessage]) -> AIMessage:
        self._calls += 1
        message = self._reply(messages)
        prompt = _estimate_tokens(messages)
        cached = 0 if self._calls == 1 else (PROMPT_OVERHEAD_TOKENS // CACHE_BLOCK) * CACHE_BLOCK
        completion = max(8, len(str(message.content)) // 4) + 18 * len(message.tool_calls)
        message.usage_metadata = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
            "input_token_details": {"audio": 0, "cache_read": cached},
            "output_token_details": {"audio": 0, "reasoning": 0},
        }
        message.response_metadata = {
            "model_name": RESPONSE_MODEL,
            "model_provider": "openai",
            "finish_reason": "tool_calls" if message.tool_calls else "stop",
            "id": f"chatcmpl-demo{self._calls:04d}",
        }
        return message

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        """Token by token, as a chat UI reads it; usage and metadata come with the last chunk."""
        message = self._answer(messages)
        words = str(message.content).split(" ") if message.content else []
        for i, word in enumerate(words):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
        calls = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": n}
            for n, c in enumerate(message.tool_calls)
        ]
        last = AIMessageChunk(
            content="",
            tool_call_chunks=calls,
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        )
        chunk = ChatGenerationChunk(
            message=last, generation_info={"finish_reason": message.response_metadata["finish_reason"]}
        )
        if run_manager is not None:
            run_manager.on_llm_new_token("", chunk=chunk)
        yield chunk


def build_graph(model: BaseChatModel | None = None) -> Any:
    """The support agent: agent -> tools -> agent, with a supervisor's approval before any refund."""
    llm = (model or SupportDeskModel()).bind_tools(TOOLS)

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        if not getattr(last, "tool_calls", None):
            return END
        return "approval" if any(c["name"] == "issue_refund" for c in last.tool_calls) else "tools"

    def approval(state: MessagesState) -> Command[Any]:
        call = next(c for c in state["messages"][-1].tool_calls if c["name"] == "issue_refund")
        decision = interrupt(
            {
                "question": "Approve this refund?",
                "order_id": call["args"]["order_id"],
                "amount": call["args"]["amount"],
                "reason": call["args"]["reason"],
            }
        )
        if isinstance(decision, dict) and decision.get("approved"):
            return Command(goto="tools")
        refused = ToolMessage("Refund not approved by a supervisor.", tool_call_id=call["id"], name="issue_refund")
        return Command(goto="agent", update={"messages": [refused]})

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("approval", approval, destinations=("tools", "agent"))
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", "approval", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver(), name="support_agent")


def _turn(graph: Any, inputs: Any, config: dict[str, Any]) -> str:
    """One turn, streamed token by token as a chat UI would; returns the reply text."""
    reply = []
    for chunk, meta in graph.stream(inputs, config, stream_mode="messages"):
        if meta.get("langgraph_node") == "agent" and isinstance(chunk, AIMessageChunk):
            reply.append(str(chunk.content))
    return "".join(reply)


def run(thread_id: str | None = None) -> list[str]:
    """Run the demo conversation (threadline must already be instrumented); returns its session ids."""
    thread = thread_id or f"support-{uuid.uuid4().hex[:8]}"
    graph = build_graph()
    config: dict[str, Any] = {"configurable": {"thread_id": thread}, "metadata": {"user_id": CUSTOMER}}
    first, second, third = TURNS
    _turn(graph, {"messages": [HumanMessage(first)]}, config)
    _turn(graph, {"messages": [HumanMessage(second)]}, config)
    if graph.get_state(config).interrupts:  # the refund waits for a supervisor
        _turn(graph, Command(resume=APPROVAL), config)
    _turn(graph, {"messages": [HumanMessage(third)]}, config)
    return [thread]


def main() -> None:
    """``python -m threadline_langgraph.demo``: instrument, run, flush, and say where to look."""
    import threadline

    threadline.instrument()
    sessions = run()
    threadline.flush()
    print(f"Traced the demo conversation in session {', '.join(sessions)}.")
    print("See it with:\n  threadline sessions\n  threadline session " + sessions[0])
    threadline.shutdown()


if __name__ == "__main__":
    main()
