"""A support conversation on the OpenAI Responses API, traced by threadline as one session.

    ./dev sync && . .venv/bin/activate            # from the repository root
    OPENAI_API_KEY=sk-... python examples/openai_conversation.py
    threadline sessions            # the CLI reads the store (.threadline/traces.db)

The turns share a server-side conversation (``client.conversations.create()``):
the conversation's creation and every turn are separate traces, all in the
session named by the conversation id, with no ``threadline.session()`` scope
in the code. The last turn is streamed. Each model call carries its tokens
and cost. (A ``previous_response_id`` chain works the same way: the chain's
first response id names the session.)
"""

from __future__ import annotations

from typing import Any

import openai

import threadline

MODEL = "gpt-4o-mini"
INSTRUCTIONS = "You are a concise support agent for ACME. Answer in one or two sentences."
TURNS = [
    "Hi! My order #1234 hasn't arrived yet.",
    "Can you send it to my office instead?",
    "Thanks, that's all.",
]


def main(client: openai.OpenAI | None = None, exporter: Any = None) -> str:
    """Run the conversation; returns its id (the session id). ``exporter`` defaults to the SQLite store."""
    threadline.instrument(exporter)
    client = client or openai.OpenAI()

    conversation = client.conversations.create(metadata={"topic": "order-status"})
    for question in TURNS[:-1]:
        response = client.responses.create(
            model=MODEL, conversation=conversation.id, instructions=INSTRUCTIONS, input=question
        )
        print(f"user: {question}\nassistant: {response.output_text}")

    print(f"user: {TURNS[-1]}\nassistant: ", end="")
    with client.responses.stream(
        model=MODEL, conversation=conversation.id, instructions=INSTRUCTIONS, input=TURNS[-1]
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                print(event.delta, end="", flush=True)
    print()

    threadline.flush()
    print(f"session: {conversation.id}")
    return conversation.id


if __name__ == "__main__":
    main()
