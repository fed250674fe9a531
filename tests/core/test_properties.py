"""Properties over arbitrary input (hypothesis): id validation, content rendering, and the text renderers
of the CLI and the web view never raise, and never let a control character or markup through."""

from __future__ import annotations

import io
import json
import re
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline import cli
from threadline.content import ERROR_TEXT_NOT_CAPTURED, TRUNCATION_MARKER, ContentPolicy, render
from threadline.masking import MASK, mask
from threadline.safe_text import UNSAFE, clean, inert_console, json_text
from threadline.sessions import MAX_ID_LENGTH, validate_id

# Modest and unhurried: the suite stays fast on a loaded machine, and no example has a deadline.
BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SGR = re.compile(r"\x1b\[[0-9;]*m")

# Text as hostile as it comes: every code point class, plus escapes and markup made likely.
hostile_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("[]/=\\:;\x1b\x07\x9b\r\n\t\u202e\u2066 ab")), max_size=40),
    st.builds(
        lambda a, b: f"{a}[link=http://evil.example]{b}[/link][/bold]\x1b]0;t\x07{a}",
        st.text(max_size=10),
        st.text(max_size=10),
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)


# --- session ids ------------------------------------------------------------------------------------


@BOUNDED
@given(st.one_of(hostile_text, st.integers(), st.uuids(), st.binary(), st.lists(st.integers(), max_size=3)))
def test_every_raw_id_becomes_a_usable_id_or_none(raw: Any) -> None:
    result = validate_id(raw)
    if result is None:
        assert raw is None or (isinstance(raw, str) and not raw.strip())
        return
    value, original = result
    assert 0 < len(value) < MAX_ID_LENGTH and value.isascii() and value.isprintable()
    assert validate_id(raw) == result  # stable: the same raw id is always the same session
    if isinstance(raw, str) and original is None:
        assert value == raw  # kept as is only when it already was a good id


@BOUNDED
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=MAX_ID_LENGTH - 1))
def test_printable_ascii_ids_pass_unchanged(raw: str) -> None:
    if raw.strip():
        assert validate_id(raw) == (raw, None)


# --- content rendering --------------------------------------------------------------------------------


@BOUNDED
@given(json_values)
def test_plain_data_renders_as_the_json_it_is(value: Any) -> None:
    text = render(value)
    if isinstance(value, str):
        assert text == value
    else:
        assert json.loads(text) == value


@BOUNDED
@given(st.one_of(json_values, st.binary(), st.sets(st.integers(), max_size=5)), st.integers(40, 400))
def test_captured_text_is_capped_and_marked(value: Any, max_chars: int) -> None:
    text, cut = ContentPolicy(max_chars=max_chars).text(value)
    if value is None:
        assert text is None
        return
    assert text is not None and len(text) <= max_chars
    assert cut == text.endswith(TRUNCATION_MARKER) or not cut
    assert ContentPolicy(capture=False).text(value) == (None, False)


@BOUNDED
@given(hostile_text, st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=20, max_size=40))
def test_keys_in_error_text_are_masked_wherever_they_stand(around: str, key_body: str) -> None:
    key = "sk-proj-" + key_body
    masked = mask(f"{around}Incorrect API key provided: {key}.{around}")
    assert key not in masked and f"sk-{MASK}" in masked


@BOUNDED
@given(hostile_text)
def test_error_text_with_capture_off_is_a_fixed_note(message: str) -> None:
    assert ContentPolicy(capture=False).error_text(ValueError(message)) == (ERROR_TEXT_NOT_CAPTURED, None)


# --- terminal and page text -----------------------------------------------------------------------------


@BOUNDED
@given(hostile_text)
def test_clean_text_has_no_control_character_and_keeps_the_rest(text: str) -> None:
    cleaned = clean(text)
    assert not UNSAFE.search(cleaned)
    assert clean(cleaned) == cleaned
    assert all(c in text for c in cleaned)


@BOUNDED
@given(hostile_text)
def test_json_output_is_escaped_and_loses_nothing(text: str) -> None:
    out = json_text(json.dumps({"input": text}, ensure_ascii=False))
    assert not UNSAFE.search(out)
    assert json.loads(out) == {"input": text}


def _printed(*renderables: Any, terminal: bool) -> str:
    buffer = io.StringIO()
    # The CLI's console (cli.make_console), on a terminal or not: a terminal gets styles as escape sequences.
    console = inert_console(file=buffer, width=cli.DEFAULT_WIDTH, soft_wrap=False, force_terminal=terminal)
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()


@BOUNDED
@given(hostile_text, hostile_text, st.booleans())
def test_the_cli_renderers_never_raise_nor_pass_controls_or_markup(text: str, other: str, terminal: bool) -> None:
    fields = cli.Fields()
    fields.add("input:", text)
    fields.add("output:", other)
    out = _printed(text, fields, terminal=terminal)
    visible = SGR.sub("", out)
    assert not UNSAFE.search(visible)
    assert "\x1b" not in visible  # no escape sequence but Rich's own styling
    # Markup is inert: every character of the text comes out, in order (Rich only wraps, expands tabs
    # and drops controls), "[bold]" and "[/link]" included.
    assert _squeezed(clean(text)) in _squeezed(visible)


def _squeezed(text: str) -> str:
    return re.sub(r"\s", "", text)


@pytest.mark.parametrize("template", ["{{ x }}", '<a title="{{ x }}">{{ x }}</a>'])
@BOUNDED
@given(text=hostile_text)
def test_web_pages_never_carry_control_characters_or_unescaped_markup(template: str, text: str) -> None:
    pytest.importorskip("jinja2")
    from threadline.ui.app import _environment

    html = _environment().from_string(template).render(x=text)
    assert not UNSAFE.search(html)
    assert "<" not in html.replace("<a ", "").replace("</a>", "")
