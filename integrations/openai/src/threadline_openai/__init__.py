"""threadline for the OpenAI Python SDK (2.x on httpx, 3.x on httpx2): spans, sessions, streams, tokens, cost.

>>> import threadline
>>> threadline.instrument()              # or instrument(integrations=["openai"])
>>> client.responses.create(model="gpt-4o-mini", conversation="conv_123", input="Hi")

One choke point: ``SyncAPIClient.request`` / ``AsyncAPIClient.request`` in
``openai._base_client``, which every resource method of both majors calls
once per logical call, above the SDK's retry loop; ``AzureOpenAI`` and
clients with any ``base_url`` inherit it. Calls are routed by
``options.url``:

* ``POST /chat/completions`` (``create``, ``parse``, ``stream``),
  ``POST /responses`` (``create``, ``parse``, ``stream``),
  ``POST /embeddings`` and ``POST /completions`` get a model span (embedding
  span for embeddings): request model and settings, input messages, output
  messages, finish reasons, response id and model, usage (prompt /
  completion / total, cached, reasoning; audio tokens as
  ``llm.token_count.*_details.audio``) and cost through the core;
* any other endpoint (files, models, Assistants threads, conversations ...)
  gets a generic ``openai <METHOD> <path template>`` span of kind
  ``request``, is never broken, and ends when the request returns.

One span per logical call: SDK retries are counted on it
(``threadline.retries``, via ``_sleep_for_retry``). An ``APIStatusError``
ends the span as an error with ``http.response.status_code`` and
``error.type`` (the exception class); timeouts and connection errors as an
error too. The user always gets the SDK's own result, exception and objects.

Streams (``stream=True``, the ``.stream()`` helpers, sync and async) stay the
SDK's own ``Stream`` / ``AsyncStream`` objects, instrumented in place (see
:mod:`threadline_openai._streams`): iteration, ``with``, ``close()``,
``with_raw_response`` and ``with_streaming_response`` behave as without
threadline. The span ends on exhaustion (``completed``), error (``error``),
``close()`` / a ``with`` exit / a ``for`` loop left early (``closed_early``)
or garbage collection of a stream never finished (``garbage_collected``), in
``threadline.stream.end_reason``; time to first token is recorded. Usage
comes from the final chunk (chat with ``stream_options.include_usage``) or
the final ``response.completed`` / ``response.incomplete`` /
``response.failed`` event; a stream that reported none gets no token
attributes (never guessed). Raw responses end their span when ``parse()``
runs (or when dropped unparsed).

Sessions, first that applies (one session per trace, decided at its root):

1. an explicit ``threadline.session(...)`` scope;
2. the Responses ``conversation`` (an id or ``{"id": ...}``); a
   ``POST /conversations`` call joins the session of the id it returns;
3. a ``previous_response_id`` chain: each Responses call records
   ``response id -> chain id`` in a bounded in-process map (10,000 ids), so
   every response of a chain is in one session named by the chain's first
   response id. That first response, when stored (``store`` not false) and
   in a trace without a session, starts the session with its own id
   (``chain_sessions`` option). A chain whose start this process never saw
   is named by the ``previous_response_id`` it continues;
4. an Assistants thread id in the URL (``/threads/{id}/...``);
5. ``metadata`` keys in the configured session key order (``session_id``,
   ``thread_id``, ``conversation_id`` by default).

The id is passed to the emitter under ``conversation_id`` (2, 3),
``thread_id`` (4) or its metadata key (5), so it is used only when that key
is one of the configured ``session_keys``; where it was found is recorded in
``threadline.session.origin``. The user (``user.id``) is a metadata
``user_id``, else ``user``, else ``safety_identifier``.

``gen_ai.provider.name`` is ``openai`` for api.openai.com,
``azure.ai.openai`` for ``AzureOpenAI`` and Azure hosts, a well-known name
for known OpenAI-compatible hosts (``groq``, ``deepseek``, ``mistral_ai``,
``x_ai``, ``gcp.gemini`` ...) and ``openai_compatible`` for any other base
URL; ``server.address`` is the host.

Options (keyword arguments of ``OpenAIIntegration().instrument(emitter, ...)``,
else environment variables read when instrumenting):

* ``include_stream_usage`` / ``THREADLINE_OPENAI_INCLUDE_USAGE=1`` (off):
  add ``stream_options={"include_usage": true}`` to streamed chat and
  completion requests that do not set it. This changes the request: the
  stream then ends with one extra chunk whose ``choices`` is empty.
* ``chain_sessions`` / ``THREADLINE_OPENAI_CHAIN_SESSIONS=0`` (on): let the
  first stored response of a chain name its session.

Nothing from the request headers is ever recorded (no API key,
authorization header or cookie); message content follows the core's
``capture_content`` and ``redact`` settings.
"""

from __future__ import annotations

from threadline_openai._integration import OpenAIIntegration

__all__ = ["OpenAIIntegration"]
