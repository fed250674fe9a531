"""The shared scenario apps: small real applications, faked only at the model boundary.

Tests, benchmarks and the plugin contract tests build their LangGraph graphs,
chat models and mock OpenAI backends from here, so that a benchmark measures
the same app a test checks. The frameworks run for real (``StateGraph`` with a
checkpointer, LlamaIndex engines, the ``openai`` client over
``httpx.MockTransport``); only the model answers are canned.

- :mod:`scenarios.openai_api`: the OpenAI API's documented bodies and a mock backend;
- :mod:`scenarios.chat_models`: LangChain chat models that answer without a network;
- :mod:`scenarios.langgraph_apps`: the LangGraph graphs (a 3-node turn, human review, a support bot);
- :mod:`scenarios.llamaindex_apps`: a LlamaIndex query engine over a small index;
- :mod:`scenarios.contract`: one workload per integration, with what the plugin contract tests watch.

The folder sits at the repository root (not in ``src/``): it is not shipped.
pytest finds it through ``pythonpath`` in ``pyproject.toml``; ``python -m
benchmarks`` finds it from the working directory. The examples do not import
it: each one is a script a user copies, so each keeps its own small app.
"""
