"""Agents and workflows: FunctionAgent with a tool, ReActAgent, AgentWorkflow, plain workflows."""

from __future__ import annotations

import asyncio

import pytest
from li_kit import OPENAI_MODEL, ScriptedLLM, openai_cost
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.dispatcher import instrument_tags
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import Context, StartEvent, StopEvent, Workflow, step

import threadline
from tests.kit import assert_agent_turn
from tests.kit import attrs as _attrs
from threadline import semconv as sc

MODEL_SPAN = f"chat {OPENAI_MODEL}"

# workflows' step discovery runs inspect.getmembers() over pydantic agents (LlamaIndex's own warnings).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def broken(a: int, b: int) -> int:
    """A tool that fails."""
    raise ValueError("cannot compute")


def _agent(llm: ScriptedLLM, **kwargs) -> FunctionAgent:
    return FunctionAgent(tools=[FunctionTool.from_defaults(multiply)], llm=llm, name="calculator", **kwargs)


@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_tree_tool_call_and_usage(spans, streaming):
    llm = ScriptedLLM(prompt_tokens=200, completion_tokens=20, cached_tokens=64)
    result = await _agent(llm, streaming=streaming).run(user_msg="What is 6 times 7?")
    assert str(result) == "The answer is 42."

    root = spans.roots()
    assert len(root) == 1 and len(spans.traces()) == 1, spans.tree()
    agent = root[0]
    assert agent.name == "calculator"
    assert_agent_turn(agent, "calculator", "What is 6 times 7?", "The answer is 42.")
    a = _attrs(agent)
    assert a[sc.TURN_ID]  # the workflow's run id is the turn ...
    assert sc.SESSION_ID not in a  # ... never the session

    steps = [s.name for s in spans.children(agent)]
    assert steps == [
        "init_run",
        "setup_agent",
        "run_agent_step",
        "parse_agent_output",
        "call_tool",
        "aggregate_tool_results",
        "setup_agent",
        "run_agent_step",
        "parse_agent_output",
    ], spans.tree()
    for s in spans.children(agent):
        assert _attrs(s)[sc.SPAN_KIND] == "node"
        assert _attrs(s)[sc.GRAPH_NODE] == s.name
        assert _attrs(s)[sc.TURN_ID] == a[sc.TURN_ID]

    models = spans.by_name(MODEL_SPAN)
    assert len(models) == 2
    for model in models:
        parent = next(s for s in spans.finished() if s.context.span_id == model.parent.span_id)
        assert parent.name == "run_agent_step"
        m = _attrs(model)
        assert m[sc.GEN_AI_USAGE_INPUT_TOKENS] == 200
        assert m[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 64
        assert m[sc.GEN_AI_USAGE_COST] == pytest.approx(openai_cost(200, 20, cached=64), abs=1e-12)
        assert (sc.GEN_AI_REQUEST_STREAM in m) is streaming
        assert (sc.TIME_TO_FIRST_TOKEN in m) is streaming
        if streaming:
            assert m[sc.END_REASON] == "completed"
    assert '"tool_calls"' in _attrs(models[0])[sc.OI_OUTPUT_VALUE]
    assert "multiply" in _attrs(models[0])[sc.OI_OUTPUT_VALUE]

    tool = spans.one("execute_tool multiply")
    t = _attrs(tool)
    assert t[sc.SPAN_KIND] == "tool"
    assert t[sc.GEN_AI_TOOL_NAME] == "multiply"
    assert t[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert t[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"a": 6, "b": 7}'
    assert t[sc.GEN_AI_TOOL_CALL_RESULT] == "42"
    parent = next(s for s in spans.finished() if s.context.span_id == tool.parent.span_id)
    assert parent.name == "call_tool"

    total_cost = sum(_attrs(s).get(sc.GEN_AI_USAGE_COST, 0.0) for s in spans.finished())
    assert total_cost == pytest.approx(2 * openai_cost(200, 20, cached=64), abs=1e-12)


async def test_agent_runs_share_the_session_of_the_memory_passed_in(spans):
    agent = _agent(ScriptedLLM())
    memory = Memory.from_defaults(session_id="support-chat-9")
    await agent.run(user_msg="6 times 7?", memory=memory)
    await agent.run(user_msg="and again?", memory=memory)
    traces = spans.traces()
    assert len(traces) == 2
    turn_ids = set()
    for members in traces.values():
        for s in members:
            assert _attrs(s)[sc.SESSION_ID] == "support-chat-9", s.name
        root = next(s for s in members if s.parent is None)
        turn_ids.add(_attrs(root)[sc.TURN_ID])
    assert len(turn_ids) == 2  # one turn per run, same session


async def test_agent_memory_with_generated_id_is_no_session(spans):
    await _agent(ScriptedLLM()).run(user_msg="6 times 7?", memory=Memory.from_defaults())
    await _agent(ScriptedLLM()).run(user_msg="6 times 7?", memory=ChatMemoryBuffer.from_defaults())
    assert len(spans.traces()) == 2
    assert all(sc.SESSION_ID not in _attrs(s) for s in spans.finished())


async def test_instrument_tags_reach_the_workflow_root(spans):
    # The run span itself is entered without tags: the integration reads the tags context variable.
    with instrument_tags({"session_id": "tagged-1", "user_id": "user-5"}):
        await _agent(ScriptedLLM()).run(user_msg="6 times 7?", memory=Memory.from_defaults(session_id="mem-1"))
    for s in spans.finished():
        assert _attrs(s)[sc.SESSION_ID] == "tagged-1", s.name
        assert _attrs(s)[sc.USER_ID] == "user-5"
    assert _attrs(spans.roots()[0])[sc.SESSION_SOURCE] == "session_id"


async def test_explicit_session_wins(spans):
    with threadline.session("explicit-3"):
        with instrument_tags({"session_id": "tagged-1"}):
            await _agent(ScriptedLLM()).run(user_msg="hi", memory=Memory.from_defaults(session_id="mem-1"))
    assert {_attrs(s)[sc.SESSION_ID] for s in spans.finished()} == {"explicit-3"}


async def test_tool_error_is_an_error_span_and_the_agent_recovers(spans):
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(broken)], llm=ScriptedLLM(), name="calc")
    result = await agent.run(user_msg="break it")
    assert str(result) == "The answer is 42."
    tool = spans.one("execute_tool broken")
    assert tool.status.status_code.name == "ERROR"
    assert _attrs(tool)[sc.ERROR_TYPE] == "ValueError"
    assert _attrs(spans.one("calc"))[sc.OUTCOME] == "ok"


async def test_agent_failure_is_an_error_root(spans):
    with pytest.raises(Exception, match="provider is down"):
        await _agent(ScriptedLLM(fail=True)).run(user_msg="hi")
    root = spans.one("calculator")
    assert _attrs(root)[sc.OUTCOME] == "error"
    assert root.status.status_code.name == "ERROR"
    model = spans.one(MODEL_SPAN)
    assert _attrs(model)[sc.OUTCOME] == "error"
    assert _attrs(model)[sc.ERROR_TYPE] == "ProviderDownError"


async def test_concurrent_agent_runs(spans):
    async def one(i: int) -> str:
        llm = ScriptedLLM(answer=f"answer {i}", tool_kwargs={"a": i, "b": 2})
        with instrument_tags({"session_id": f"s-{i}"}):
            return str(await _agent(llm).run(user_msg=f"question {i}"))

    answers = await asyncio.gather(*(one(i) for i in range(5)))
    assert answers == [f"answer {i}" for i in range(5)]
    traces = spans.traces()
    assert len(traces) == 5
    for members in traces.values():
        root = next(s for s in members if s.parent is None)
        i = int(_attrs(root)[sc.OI_INPUT_VALUE].split()[-1])
        assert {_attrs(s)[sc.SESSION_ID] for s in members} == {f"s-{i}"}
        tool = next(s for s in members if s.name == "execute_tool multiply")
        assert _attrs(tool)[sc.GEN_AI_TOOL_CALL_RESULT] == str(i * 2)
        assert len([s for s in members if s.name == MODEL_SPAN]) == 2


class _ReActLLM(ScriptedLLM):
    """Answers in ReAct's text format: one action, then the final answer."""

    def _reply(self, messages, tools):  # type: ignore[override]
        from llama_index.core.base.llms.types import ChatMessage, MessageRole

        self.calls += 1
        if self.calls == 1:
            text = 'Thought: I need a tool.\nAction: multiply\nAction Input: {"a": 6, "b": 7}'
        else:
            text = "Thought: I can answer without using any more tools.\nAnswer: 42"
        return ChatMessage(role=MessageRole.ASSISTANT, content=text)


async def test_react_agent(spans):
    agent = ReActAgent(tools=[FunctionTool.from_defaults(multiply)], llm=_ReActLLM(), name="reactor")
    result = await agent.run(user_msg="6 times 7?")
    assert "42" in str(result)
    root = spans.one("reactor")
    assert _attrs(root)[sc.SPAN_KIND] == "agent"
    tool = spans.one("execute_tool multiply")
    assert _attrs(tool)[sc.GEN_AI_TOOL_CALL_RESULT] == "42"
    assert tool.context.trace_id == root.context.trace_id
    assert len(spans.by_name(MODEL_SPAN)) == 2


async def test_agent_workflow(spans):
    workflow = AgentWorkflow(agents=[_agent(ScriptedLLM())], root_agent="calculator")
    result = await workflow.run(user_msg="6 times 7?")
    assert str(result) == "The answer is 42."
    root = spans.roots()
    assert [r.name for r in root] == ["AgentWorkflow"]
    assert _attrs(root[0])[sc.SPAN_KIND] == "agent"
    assert len(spans.traces()) == 1
    assert len(spans.by_name("execute_tool multiply")) == 1


class _Pipeline(Workflow):
    @step
    async def first(self, ctx: Context, ev: StartEvent) -> StopEvent:
        return StopEvent(result={"echo": ev.get("text")})


async def test_plain_workflow_is_a_graph_with_nodes(spans):
    result = await _Pipeline().run(text="hello")
    assert result == {"echo": "hello"}
    root = spans.one("_Pipeline")
    assert _attrs(root)[sc.SPAN_KIND] == "graph"
    assert _attrs(root)[sc.OI_OUTPUT_VALUE] == '{"echo": "hello"}'
    assert "hello" in _attrs(root)[sc.OI_INPUT_VALUE]
    [node] = spans.children(root)
    assert node.name == "first"
    assert _attrs(node)[sc.SPAN_KIND] == "node"


async def test_user_spans_nest_in_steps(spans):
    dispatcher = get_dispatcher("tests.llamaindex.user")

    @dispatcher.span
    def lookup(key: str) -> str:
        return key.upper()

    class _Flow(Workflow):
        @step
        async def only(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=lookup("abc"))

    assert await _Flow().run() == "ABC"
    user = spans.one("test_user_spans_nest_in_steps.<locals>.lookup")
    assert _attrs(user)[sc.SPAN_KIND] == "chain"
    assert _attrs(user)[sc.OI_OUTPUT_VALUE] == "ABC"
    parent = next(s for s in spans.finished() if s.context.span_id == user.parent.span_id)
    assert parent.name == "only"
