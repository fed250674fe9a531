"""The small applications the workloads drive, faked only at the model boundary.

- a LangGraph 3-node graph whose middle node calls a fake chat model that
  reports usage (5 spans per turn: graph, 3 nodes, the chat model);
- a LangGraph graph that interrupts for human review and is resumed;
- an ``openai.OpenAI`` client whose HTTP goes to an ``httpx.MockTransport``;
- a LlamaIndex query engine over a small index with ``MockLLM`` and ``MockEmbedding``.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini"
USAGE = {"input_tokens": 42, "output_tokens": 12, "total_tokens": 54}


# -- LangGraph -------------------------------------------------------------------------
def fake_chat_model() -> Any:
    """A LangChain chat model that answers at once and reports usage like ChatOpenAI does."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class FakeOpenAIChat(BaseChatModel):
        """Returns a fixed answer with ``usage_metadata`` and the OpenAI provider/model in its ls params."""

        model_name: str = MODEL

        @property
        def _llm_type(self) -> str:
            return "fake-openai-chat"

        def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
            return {"ls_provider": "openai", "ls_model_name": self.model_name, "ls_model_type": "chat"}

        def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            message = AIMessage(
                content="The answer is 42.",
                usage_metadata=dict(USAGE),
                response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
            )
            return ChatResult(
                generations=[ChatGeneration(message=message)],
                llm_output={"token_usage": dict(USAGE), "model_name": self.model_name},
            )

    return FakeOpenAIChat()


def turn_graph() -> Any:
    """START → prepare → model → finish → END; ``model`` calls the fake chat model."""
    from typing import TypedDict

    from langchain_core.messages import HumanMessage, SystemMessage
    from langgraph.graph import END, START, StateGraph

    llm = fake_chat_model()

    class State(TypedDict, total=False):
        question: str
        messages: list[Any]
        answer: str
        words: int

    def prepare(state: State) -> dict[str, Any]:
        return {"messages": [SystemMessage("You are terse."), HumanMessage(state["question"])]}

    def model(state: State) -> dict[str, Any]:
        return {"answer": llm.invoke(state["messages"]).content}

    def finish(state: State) -> dict[str, Any]:
        return {"words": len(state["answer"].split())}

    builder = StateGraph(State)
    builder.add_node("prepare", prepare)
    builder.add_node("model", model)
    builder.add_node("finish", finish)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "model")
    builder.add_edge("model", "finish")
    builder.add_edge("finish", END)
    return builder.compile()


def turn_config(i: int, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """The config of turn ``i``: 16 conversation threads in rotation."""
    config: dict[str, Any] = {"configurable": {"thread_id": f"thread-{i % 16}"}}
    if callbacks:
        config["callbacks"] = callbacks
    return config


def hitl_graph() -> tuple[Any, Any]:
    """draft → review (``interrupt()``) → publish, with an in-memory checkpointer; returns (graph, saver)."""
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    class State(TypedDict, total=False):
        topic: str
        draft: str
        verdict: str
        published: bool

    def draft(state: State) -> dict[str, Any]:
        return {"draft": f"A short post about {state['topic']}."}

    def review(state: State) -> dict[str, Any]:
        verdict = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
        return {"verdict": str(verdict)}

    def publish(state: State) -> dict[str, Any]:
        return {"published": state["verdict"] == "approve"}

    builder = StateGraph(State)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_node("publish", publish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "publish")
    builder.add_edge("publish", END)
    saver = InMemorySaver()
    return builder.compile(checkpointer=saver), saver


# -- OpenAI ----------------------------------------------------------------------------
_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_760_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The answer is 42.", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 42,
        "completion_tokens": 12,
        "total_tokens": 54,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
}


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    else:
        body["usage"] = None
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": "", "refusal": None}),
        _chunk({"content": "The answer"}),
        _chunk({"content": " is"}),
        _chunk({"content": " 42."}),
        _chunk({}, finish="stop"),
        _chunk(None, usage=_COMPLETION["usage"]),
        b"data: [DONE]\n\n",
    ]
)
_COMPLETION_BYTES = json.dumps(_COMPLETION).encode()


def openai_client() -> Any:
    """An ``openai.OpenAI`` whose requests are answered by an ``httpx.MockTransport`` (no network)."""
    import httpx
    import openai

    def answer(request: httpx.Request) -> httpx.Response:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_STREAM)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=_COMPLETION_BYTES)

    return openai.OpenAI(
        api_key="sk-bench-not-a-real-key",
        base_url="http://openai.bench.invalid/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
        max_retries=0,
    )


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the answer?"},
]


# -- LlamaIndex ------------------------------------------------------------------------
def llamaindex_engine() -> Any:
    """A query engine over 12 short documents, with ``MockLLM`` and ``MockEmbedding``."""
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM

    docs = [
        Document(text=f"Fact {i}: the threadline benchmark document number {i} says the answer is {40 + i}.")
        for i in range(12)
    ]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
    return index.as_query_engine(llm=MockLLM(max_tokens=16), similarity_top_k=2)
