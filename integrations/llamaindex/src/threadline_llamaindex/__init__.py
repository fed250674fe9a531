"""threadline for LlamaIndex: query engines, retrievers, chat engines, LLMs, agents and workflows.

>>> import threadline
>>> threadline.instrument()              # or instrument(integrations=["llamaindex"])
>>> index.as_chat_engine(memory=ChatMemoryBuffer.from_defaults(chat_store_key="chat-42")).chat("hi")

A span handler and an event handler are registered once on LlamaIndex's root
instrumentation dispatcher (``llama_index.core.instrumentation.get_dispatcher()``)
and removed on uninstrument; nothing is patched. Spans: query engines and
synthesizers (chains), retrievers (retrieval), LLM chat and completion calls,
streamed or not, and embeddings (model calls), tools (tool calls), agents
(``FunctionAgent``, ``ReActAgent``, ``CodeActAgent``, ``AgentWorkflow``: agent runs),
other workflows (graph runs) and their steps (nodes), and any of your own
functions decorated with ``@dispatcher.span``. LlamaIndex's internal helpers
(``_query``, text splitters, prompt programs, ``predict`` ...) are folded into
their parent span.

Sessions, first that applies (the trace's root decides; one session per trace):

1. an explicit ``threadline.session(...)`` scope;
2. ``instrument_tags`` keys, in the configured ``session_keys`` order
   (default ``session_id``, ``thread_id``, ``conversation_id``), with
   ``user_id`` as the user, read from the span's tags and from the
   ``active_instrument_tags`` context variable (a workflow's run span gets no
   tags of its own)::

       with instrument_tags({"session_id": "chat-42", "user_id": "u-1"}):
           await agent.run("hi")

3. a chat engine's memory: ``Memory.session_id`` when you gave one
   (``Memory.from_defaults(session_id="chat-42")``; the random UUID4
   LlamaIndex generates otherwise is not a session), else a chat-store memory's
   ``chat_store_key`` (``ChatMemoryBuffer.from_defaults(chat_store_key="chat-42")``)
   when it is not the default ``"chat_history"``;
4. the memory you pass to an agent run (``agent.run(msg, memory=...)``), read
   the same way.

Both memory ids are reported under the ``session_id`` key. A workflow's
``llamaindex.run_id`` changes on every run: it is recorded as the turn id
(``threadline.turn.id``), never as the session.
"""

from __future__ import annotations

from threadline_llamaindex._integration import LlamaIndexIntegration

__all__ = ["LlamaIndexIntegration"]
