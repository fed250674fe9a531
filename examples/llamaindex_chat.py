"""A LlamaIndex chat over your documents, traced by threadline: every turn is one session.

    python examples/llamaindex_chat.py
    threadline sessions                      # the conversation, with tokens and cost
    threadline session llamaindex-demo-chat  # turn by turn

Runs offline: the embedding model is LlamaIndex's ``MockEmbedding`` and the
chat model is a small stand-in that answers from the retrieved context and
reports token usage the way OpenAI does (as ``gpt-4o-mini``, so the cost
column has numbers). Swap in ``llama_index.llms.openai.OpenAI`` and
``OpenAIEmbedding`` for the real thing: nothing else changes.

The session id comes from the chat memory's ``chat_store_key``; a
``Memory.from_defaults(session_id=...)`` or
``instrument_tags({"session_id": ...})`` works the same way.
"""

from __future__ import annotations

import re
from typing import Any

import threadline

threadline.instrument()  # every installed integration, spans to the local SQLite store

from llama_index.core import Document, VectorStoreIndex  # noqa: E402
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata  # noqa: E402
from llama_index.core.embeddings import MockEmbedding  # noqa: E402
from llama_index.core.llms import CustomLLM  # noqa: E402
from llama_index.core.llms.callbacks import llm_completion_callback  # noqa: E402
from llama_index.core.memory import ChatMemoryBuffer  # noqa: E402

SESSION_ID = "llamaindex-demo-chat"

HANDBOOK = [
    "Support hours are 9:00 to 17:00 CET, Monday to Friday.",
    "Refunds are issued within 14 days of a return being received.",
    "Premium customers get a dedicated account manager.",
    "Orders over 50 EUR ship for free within the EU.",
]


class OfflineChatModel(CustomLLM):
    """Answers with the context sentence sharing the most words with the question."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="gpt-4o-mini", is_chat_model=False)

    def _answer(self, prompt: str) -> tuple[str, dict[str, Any]]:
        question = prompt.rsplit("user:", 1)[-1]
        words = set(re.findall(r"[a-z]+", question.lower()))
        best = max(HANDBOOK, key=lambda s: len(words & set(re.findall(r"[a-z]+", s.lower()))))
        usage = {
            "prompt_tokens": len(prompt.split()) * 4 // 3,
            "completion_tokens": len(best.split()) * 4 // 3,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return best, {"id": "chatcmpl-offline", "model": "gpt-4o-mini-2024-07-18", "usage": usage}

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text, raw = self._answer(prompt)
        return CompletionResponse(text=text, raw=raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text, raw = self._answer(prompt)

        def gen() -> CompletionResponseGen:
            so_far = ""
            words = text.split(" ")
            for i, word in enumerate(words):
                delta = word if i == 0 else " " + word
                so_far += delta
                last = i == len(words) - 1
                yield CompletionResponse(text=so_far, delta=delta, raw=raw if last else None)

        return gen()


def main() -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text=t) for t in HANDBOOK], embed_model=MockEmbedding(embed_dim=16)
    )
    chat = index.as_chat_engine(
        chat_mode="context",
        llm=OfflineChatModel(),
        similarity_top_k=4,
        memory=ChatMemoryBuffer.from_defaults(chat_store_key=SESSION_ID),
    )

    for question in ("When is support open?", "How long do refunds take?"):
        print(f"user: {question}")
        print(f"assistant: {chat.chat(question)}")

    question = "Do orders ship for free?"
    print(f"user: {question}")
    print("assistant: ", end="")
    for token in chat.stream_chat(question).response_gen:
        print(token, end="", flush=True)
    print()

    threadline.flush()
    print(f"\nTraced 3 turns in session {SESSION_ID!r}. See them with: threadline session {SESSION_ID}")


if __name__ == "__main__":
    main()
