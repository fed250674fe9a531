"""A LangChain retrieval chain, traced by threadline: each question a trace, the conversation a session.

    python examples/langchain_chain.py
    threadline sessions                          # the conversation, with tokens and cost
    threadline session langchain-demo-chat       # turn by turn

retriever | prompt | chat model | parser, asked two questions (the second one
streamed). The session id comes from the run metadata (``session_id``, or
``thread_id`` / ``conversation_id``); no callbacks are passed: ``instrument()``
adds threadline's handler to every LangChain run.

Runs offline: the chat model is a small stand-in that answers from the
retrieved context and reports token usage as ``gpt-4o-mini`` does (so the
cost column has real numbers). Swap in ``langchain_openai.ChatOpenAI`` for the
real thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import threadline

threadline.instrument()  # every installed integration; spans go to the local store ($THREADLINE_DB)

from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_core.runnables import RunnablePassthrough  # noqa: E402

SESSION_ID = "langchain-demo-chat"
HANDBOOK = [
    "Support hours are 9:00 to 17:00 CET, Monday to Friday.",
    "Refunds are issued within 14 days of a return being received.",
    "Orders over 50 EUR ship for free within the EU.",
]


def _words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split()}


class HandbookRetriever(BaseRetriever):
    """The two handbook lines sharing the most words with the question."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        ranked = sorted(HANDBOOK, key=lambda line: -len(_words(query) & _words(line)))
        return [Document(page_content=line, metadata={"source": "handbook.md"}) for line in ranked[:2]]


class OfflineChatModel(BaseChatModel):
    """Answers with the first context line; reports usage and metadata the way ChatOpenAI does."""

    @property
    def _llm_type(self) -> str:
        return "offline-demo"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini", "ls_model_type": "chat"}

    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        prompt = "\n".join(str(m.content) for m in messages)
        answer = prompt.split("Context:\n", 1)[-1].splitlines()[0]
        prompt_tokens, completion_tokens = len(prompt.split()) * 4 // 3, len(answer.split()) * 4 // 3
        return AIMessage(
            answer,
            usage_metadata={
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
        )

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[Any]:
        answer = self._answer(messages)
        for i, word in enumerate(str(answer.content).split(" ")):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=answer.usage_metadata,
                response_metadata=answer.response_metadata,
                chunk_position="last",
            )
        )


prompt = ChatPromptTemplate.from_messages(
    [("system", "Answer from the context only.\nContext:\n{context}"), ("user", "{question}")]
)
chain = (
    {
        "context": HandbookRetriever() | (lambda docs: "\n".join(d.page_content for d in docs)),
        "question": RunnablePassthrough(),
    }
    | prompt
    | OfflineChatModel()
    | StrOutputParser()
)


def main() -> None:
    config = {"metadata": {"session_id": SESSION_ID, "user_id": "sam"}}
    question = "How long do refunds take?"
    print(f"user: {question}\nassistant: {chain.invoke(question, config)}")
    question = "Do orders ship for free?"
    print(f"user: {question}\nassistant: ", end="")
    for piece in chain.stream(question, config):
        print(piece, end="", flush=True)
    print()

    threadline.flush()
    print(f"\nSee it: threadline sessions, then threadline session {SESSION_ID}")


if __name__ == "__main__":
    main()
