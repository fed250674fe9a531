"""The SQLite store's tables: the columns of a span row and the DDL of each schema version.

One table of spans with the columns the CLI's queries and the rollups need
promoted out of the attributes (ids, times, status, outcome, session, user,
model, tokens, cost, time to first token, interrupt and resume markers), plus
every attribute, event and link as JSON; the trace and session rollups
(:mod:`.rollups`); content stored once (:mod:`.content`); scores; and a
``meta`` table that names the file a threadline store and records its schema
version. :mod:`.schema` creates them in a new store, :mod:`.migrations`
upgrades an older one.
"""

from __future__ import annotations

__all__ = ["SPAN_COLUMNS", "TOKEN_FIELDS", "current_schema"]

# Token counts by kind, in the order of the span, trace and session usage columns.
TOKEN_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
)

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "span_kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "outcome",
    "session_id",
    "user_id",
    "integration",
    "operation",
    "model",
    "provider",
    *TOKEN_FIELDS,
    "cost_usd",
    "usage_counted_in",
    "ttft_ms",
    "is_resume",
    "interrupt_ids",
    "resume_interrupt_ids",
    "service_name",
    "scope_name",
    "environment",
    "session_original_id",
    "cost_input_usd",
    "cost_output_usd",
    "checkpoint_id",
    "session_meta",
    "content",
    "attributes",
    "events",
    "links",
)

SCHEMA_V1: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS spans (
        trace_id             TEXT    NOT NULL,  -- 32 hex digits
        span_id              TEXT    NOT NULL,  -- 16 hex digits
        parent_span_id       TEXT,
        name                 TEXT    NOT NULL,
        kind                 TEXT,              -- threadline.span.kind: model, tool, node, graph ...
        span_kind            TEXT,              -- OpenTelemetry SpanKind: INTERNAL, CLIENT ...
        start_ns             INTEGER NOT NULL,  -- Unix nanoseconds
        end_ns               INTEGER,
        status_code          TEXT    NOT NULL,  -- UNSET | OK | ERROR
        status_message       TEXT,
        outcome              TEXT,              -- ok | error | interrupted | cancelled
        session_id           TEXT,
        user_id              TEXT,
        integration          TEXT,
        operation            TEXT,              -- gen_ai.operation.name
        model                TEXT,              -- response model, else request model
        provider             TEXT,
        input_tokens         INTEGER,           -- includes cached input
        output_tokens        INTEGER,           -- includes reasoning
        cache_read_tokens    INTEGER,
        cache_write_tokens   INTEGER,
        reasoning_tokens     INTEGER,
        total_tokens         INTEGER,
        cost_usd             REAL,
        usage_counted_in     TEXT,              -- span id carrying this call's usage (a nested SDK span)
        ttft_ms              REAL,
        is_resume            INTEGER NOT NULL DEFAULT 0,
        interrupt_ids        TEXT,              -- JSON array
        resume_interrupt_ids TEXT,              -- JSON array
        service_name         TEXT,
        scope_name           TEXT,
        attributes           TEXT    NOT NULL,  -- JSON object: every attribute
        events               TEXT,              -- JSON array or NULL
        links                TEXT               -- JSON array or NULL
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS spans_trace_span ON spans (trace_id, span_id)",
    "CREATE INDEX IF NOT EXISTS spans_session ON spans (session_id) WHERE session_id IS NOT NULL",
)
"""Version 1, as released: kept to describe what :mod:`.migrations` upgrades (and for its tests)."""

_SPAN_COLUMNS_V2 = """
        environment          TEXT,              -- deployment.environment.name
        session_original_id  TEXT,              -- the raw session id before it was shortened
        cost_input_usd       REAL,
        cost_output_usd      REAL,
        checkpoint_id        TEXT,              -- LangGraph checkpoint a pause left / a resume started from
        session_meta         TEXT,              -- JSON [tags, metadata] of threadline.session(...), or NULL
        content              TEXT,              -- JSON: message lists moved to the content tables (store.content)
"""

# Rollups and content, the same in a new store and in a migrated one.
# The usage columns of every rollup table: tokens by kind and cost (with its input / output split).
_USAGE_COLUMNS = """input_tokens       INTEGER,
        output_tokens      INTEGER,
        cache_read_tokens  INTEGER,
        cache_write_tokens INTEGER,
        reasoning_tokens   INTEGER,
        total_tokens       INTEGER,
        cost_usd           REAL,
        cost_input_usd     REAL,
        cost_output_usd    REAL,"""

SCHEMA_V2_TABLES: tuple[str, ...] = tuple(
    statement.replace("{usage}", _USAGE_COLUMNS)
    for statement in (
        """
    CREATE TABLE IF NOT EXISTS traces (
        trace_id           TEXT PRIMARY KEY,
        session_id         TEXT,
        root_span_id       TEXT,
        root_name          TEXT,
        root_outcome       TEXT,
        start_ns           INTEGER NOT NULL,
        end_ns             INTEGER,
        spans              INTEGER NOT NULL,
        error_spans        INTEGER NOT NULL,
        interrupted        INTEGER NOT NULL,
        outcome            TEXT    NOT NULL,    -- interrupted | error | cancelled | resumed | ok
        is_resume          INTEGER NOT NULL,
        users              TEXT,                -- JSON array, sorted
        models             TEXT,                -- JSON array, sorted
        {usage}
        ttfts              TEXT,                -- JSON array of the calls' time to first token (ms)
        model_usage        TEXT,                -- JSON {model: [in, out, cache read, cache write, reasoning, total,
                                                --               cost, input cost, output cost]}
        environment        TEXT,
        tags               TEXT,                -- JSON array, sorted
        metadata           TEXT,                -- JSON object
        original_id        TEXT,
        interrupt_ids      TEXT,                -- JSON array: interrupts this trace raised
        resume_interrupt_ids TEXT,              -- JSON array: interrupts this trace answers
        checkpoint_ids     TEXT                 -- JSON array: checkpoints paused at / resumed from
    ) WITHOUT ROWID
    """,
        "CREATE INDEX IF NOT EXISTS traces_session ON traces (session_id, start_ns) WHERE session_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ns)",
        """
    CREATE TABLE IF NOT EXISTS sessions (
        session_id         TEXT PRIMARY KEY,
        first_start_ns     INTEGER NOT NULL,
        last_end_ns        INTEGER,
        active_ns          INTEGER NOT NULL,    -- last end, else first start: what --since compares
        traces             INTEGER NOT NULL,
        errors             INTEGER NOT NULL,
        interrupted        INTEGER NOT NULL,
        users              TEXT,
        models             TEXT,
        {usage}
        ttft_median_ms     REAL,
        environment        TEXT,                -- of the latest trace that has one
        tags               TEXT,                -- JSON array: the union over its traces
        metadata           TEXT,                -- JSON object of the latest trace that has metadata
        original_id        TEXT,                -- the raw id the user knows, when it was shortened
        ttfts              TEXT                 -- JSON array, sorted: what the median is taken over
    ) WITHOUT ROWID
    """,
        "CREATE INDEX IF NOT EXISTS sessions_last_end ON sessions (last_end_ns)",
        "CREATE INDEX IF NOT EXISTS sessions_active ON sessions (active_ns)",
        "CREATE INDEX IF NOT EXISTS sessions_first_start ON sessions (first_start_ns)",
        "CREATE INDEX IF NOT EXISTS sessions_environment ON sessions (environment) WHERE environment IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS sessions_original ON sessions (original_id) WHERE original_id IS NOT NULL",
        """
    CREATE TABLE IF NOT EXISTS session_users (
        user_id    TEXT NOT NULL,
        session_id TEXT NOT NULL,
        PRIMARY KEY (user_id, session_id)
    ) WITHOUT ROWID
    """,
        "CREATE INDEX IF NOT EXISTS session_users_session ON session_users (session_id)",
        """
    CREATE TABLE IF NOT EXISTS session_models (
        session_id         TEXT NOT NULL,
        model              TEXT NOT NULL,
        calls              INTEGER NOT NULL,
        {usage}
        PRIMARY KEY (session_id, model)
    ) WITHOUT ROWID
    """,
        """
    CREATE TABLE IF NOT EXISTS scores (
        id          INTEGER PRIMARY KEY,
        target_kind TEXT    NOT NULL CHECK (target_kind IN ('trace', 'session')),
        target_id   TEXT    NOT NULL,            -- 32 hex digits for a trace; the session id
        name        TEXT    NOT NULL,
        value_num   REAL,                        -- a number; 1.0 / 0.0 for a boolean ...
        value_str   TEXT,                        -- ... or a category
        data_type   TEXT    NOT NULL CHECK (data_type IN ('numeric', 'boolean', 'categorical')),
        comment     TEXT,
        source      TEXT    NOT NULL,            -- code | annotation | eval | ...
        author      TEXT,
        created_at  REAL    NOT NULL,            -- Unix seconds
        CHECK ((value_num IS NULL) <> (value_str IS NULL))
    )
    """,
        "CREATE INDEX IF NOT EXISTS scores_target ON scores (target_kind, target_id)",
        # Content stored once: a message's text by hash, and message lists as shared prefixes
        # (list = parent list + one message), so a conversation's history is stored once.
        """
    CREATE TABLE IF NOT EXISTS messages (
        id   INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,              -- blake2b-128 of the text
        text TEXT NOT NULL
    )
    """,
        """
    CREATE TABLE IF NOT EXISTS message_lists (
        id      INTEGER PRIMARY KEY,
        parent  INTEGER NOT NULL,               -- 0 for a list's first message
        message INTEGER NOT NULL,
        UNIQUE (parent, message)
    )
    """,
    )
)

SCHEMA_V2: tuple[str, ...] = (
    SCHEMA_V1[0],
    SCHEMA_V1[1].replace("        attributes ", _SPAN_COLUMNS_V2.lstrip("\n") + "        attributes ", 1),
    SCHEMA_V1[2],
    *SCHEMA_V2_TABLES,
)


# What v3 adds: the full-text index (written by store.search_index) and the indexes the traces
# page (store.trace_list) and the dashboard (store.stats) read.
SCHEMA_V3_ADDITIONS: tuple[str, ...] = (
    # rowid = the span's rowid in ``spans``; ``text`` = its searchable text.
    "CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE INDEX IF NOT EXISTS traces_outcome ON traces (outcome, start_ns)",
    "CREATE INDEX IF NOT EXISTS traces_environment ON traces (environment, start_ns) WHERE environment IS NOT NULL",
    # Covering what store.stats reads over a window, so that a month of traces is read from a narrow index.
    "CREATE INDEX IF NOT EXISTS traces_stats ON traces (start_ns, end_ns, outcome, interrupted, model_usage, ttfts)",
)


def current_schema() -> tuple[str, ...]:
    """The statements that create a new store at the current version."""
    return (*SCHEMA_V2, *SCHEMA_V3_ADDITIONS)
