"""OpenAI SDK: ``chat.completions.create``, plain and streamed, over an ``httpx.MockTransport``.

The client, its pydantic parsing and httpx all run for real; only the socket
is replaced. Target: <= 50 µs overhead per call with the default exporter.
"""

from __future__ import annotations

from typing import Any

from benchmarks import apps, peers
from benchmarks.harness import Config, Row, compare, profile
from benchmarks.pipelines import require, threadline_default, threadline_in_memory

TARGET_US = 50.0


def run(cfg: Config) -> list[Row]:
    """Plain and streamed calls, each uninstrumented vs threadline."""
    require("openai", "httpx", "threadline_openai")
    client = apps.openai_client()

    def plain(i: int) -> Any:
        return client.chat.completions.create(model=apps.MODEL, messages=apps.MESSAGES)

    def streamed(i: int) -> Any:
        stream = client.chat.completions.create(
            model=apps.MODEL,
            messages=apps.MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        return [chunk for chunk in stream]

    rows: list[Row] = []
    for label, call in (("openai chat.completions.create", plain), ("openai streamed create", streamed)):
        variant = threadline_default(cfg.workdir, label.split()[1].replace(".", "-"))
        variant.target_overhead_us = TARGET_US
        variants = [
            variant,
            threadline_default(cfg.workdir, "openai-nocontent", capture_content=False),
            threadline_in_memory(),
            peers.bare_openai_wrapper(),
        ]
        rows += compare(label, call, variants, cfg)
    profile(cfg, "openai", plain, threadline_default(cfg.workdir, "openai-profile"))
    profile(cfg, "openai-stream", streamed, threadline_default(cfg.workdir, "openai-stream-profile"))
    return rows
