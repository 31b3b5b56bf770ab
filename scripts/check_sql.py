#!/usr/bin/env python3
"""Strict Trino-grammar gate for the shared SQL (sql/views/ and any other .sql files).

Usage: python scripts/check_sql.py FILE_OR_DIR...

Every .sql file (directories are searched recursively) must:
  * parse with Trino's own ANTLR grammar (trino-query-parser, Trino 422) — strictly: lexer errors
    count as failures too (the package's parse_statement only listens to the parser, so an
    unlexable character would otherwise be skipped with a console warning);
  * avoid syntax that Trino or DataFusion 55 would read differently or not at all, even where the
    grammar accepts it: `::` casts, `->`/`->>` (JSON operators, lambdas), `TYPE[]` array types.

Why both: the view catalog runs verbatim on Athena (Trino) and on the embedded DataFusion engine,
so it must stay inside the syntax both parse (reference/sql-dialect.md, section 3). Lenient
parsers (sqlglot, trino-sql-validator) accept `x::int` and friends, hence Trino's grammar.

A file that is a bare query (SELECT/WITH/VALUES/TABLE/parenthesised) is checked as
`CREATE OR REPLACE VIEW x AS <body>`, the form the catalog deploys it in. YAML front matter
(between leading `---` lines) is blanked out before parsing; `-- key: value` headers are plain
comments. A trailing `;` is rejected: view bodies are spliced into DDL and must not carry one.

Exit status: 0 when every file passes, 1 when any fails (each failure is listed), 2 on usage errors.
Works offline: it needs only the installed package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from trino_query_parser.SqlBaseLexer import SqlBaseLexer
    from trino_query_parser.SqlBaseParser import SqlBaseParser
except ImportError as exc:  # pragma: no cover - environment problem, not a SQL failure
    sys.stderr.write(
        f"check_sql: trino-query-parser is not importable ({exc}); "
        "run with the project venv: $(bash scripts/python-env.sh) scripts/check_sql.py ...\n"
    )
    sys.exit(2)

VIEW_PREFIX = "CREATE OR REPLACE VIEW x AS "
QUERY_START = re.compile(r"(?is)^\s*(SELECT|WITH|VALUES|TABLE|\()")


class SqlError(Exception):
    """One failure in one file, with a 1-based line and column in the file as written."""

    def __init__(self, line: int, column: int, msg: str):
        super().__init__(msg)
        self.line = line
        self.column = column
        self.msg = msg


class _UpperCaseStream(InputStream):
    """Feeds the lexer upper-cased characters (Trino's grammar spells keywords in upper case and
    Trino itself lexes through a case-insensitive stream) while keeping every offset intact;
    the package's own helper upper-cases the whole string, which can shift columns."""

    def LA(self, offset: int) -> int:  # noqa: N802 - ANTLR API name
        c = super().LA(offset)
        if c <= 0:
            return c
        up = chr(c).upper()
        return ord(up) if len(up) == 1 else c


def _shorten(msg: str, keep: int = 12) -> str:
    """ANTLR lists every token it would have accepted (hundreds of keywords); keep a few."""
    m = re.search(r"expecting \{([^}]*)\}", msg)
    if not m:
        return msg
    alts = [a.strip() for a in m.group(1).split(",")]
    if len(alts) <= keep:
        return msg
    short = ", ".join(alts[:keep]) + f", … ({len(alts) - keep} more)"
    return msg[: m.start(1)] + short + msg[m.end(1) :]


class _Raise(ErrorListener):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802,N803
        raise SqlError(line, column + 1, f"{self.kind}: {_shorten(msg)}")


def _parse_strict(sql: str) -> None:
    lexer = SqlBaseLexer(_UpperCaseStream(sql))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise("lexer"))
    parser = SqlBaseParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise("parser"))
    parser.singleStatement()  # `statement EOF`: trailing garbage is an error too


def _blank_front_matter(text: str) -> str:
    """Replaces a leading `---` … `---` block with empty lines, so line numbers still match."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n" * i + "\n" + "\n".join(lines[i + 1 :])
    raise SqlError(1, 1, "front matter opened with '---' is never closed")


def _mask_literals_and_comments(sql: str) -> str:
    """Same text with string literals, quoted identifiers and comments replaced by spaces
    (newlines kept), so the portability regexes only see code."""
    out = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", sql[i:j]))
            i = j
        elif ch in ("'", '"', "`"):
            j = i + 1
            closed = False
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote escapes itself
                        j += 2
                        continue
                    closed = True
                    break
                j += 1
            body = re.sub(r"[^\n]", " ", sql[i + 1 : j])
            out.append(ch + body + (ch if closed else ""))
            i = j + 1 if closed else n
        else:
            out.append(ch)
            i += 1
    return "".join(out)


NON_PORTABLE = [
    (re.compile(r"::"), "'::' cast is not Trino syntax; use CAST(x AS type)"),
    (
        re.compile(r"->"),
        "'->'/'->>' (JSON operator or lambda) is not portable: DataFusion 55 has no lambdas and "
        "Trino has no JSON arrows; use json_extract/json_extract_scalar",
    ),
    (
        # `ARRAY[]` (an empty array constructor) is valid in both engines; `VARCHAR[]` is not.
        re.compile(r"(?i)\b(?!array\b)[a-z_][a-z0-9_]*\s*\[\s*\]"),
        "'TYPE[]' array type is not Trino syntax; spell it ARRAY<VARCHAR>",
    ),
]


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def check_text(text: str) -> list[SqlError]:
    """All failures of one file's text (empty list = pass)."""
    try:
        sql = _blank_front_matter(text)
    except SqlError as e:
        return [e]
    errors: list[SqlError] = []
    masked = _mask_literals_and_comments(sql)
    if not masked.strip():
        return [SqlError(1, 1, "no SQL statement in file")]
    for rx, why in NON_PORTABLE:
        for m in rx.finditer(masked):
            errors.append(SqlError(*_line_col(sql, m.start()), f"non-portable syntax: {why}"))
    stripped = masked.rstrip()
    if stripped.endswith(";"):
        errors.append(
            SqlError(*_line_col(sql, len(stripped) - 1), "trailing ';': write a single statement without it")
        )
    wrap = bool(QUERY_START.match(masked))
    try:
        _parse_strict(VIEW_PREFIX + sql if wrap else sql)
    except SqlError as e:
        if wrap and e.line == 1:  # report the column in the file, not in the wrapper
            e.column = max(1, e.column - len(VIEW_PREFIX))
        errors.append(e)
    except RecursionError:
        errors.append(SqlError(1, 1, "parser: statement too deeply nested"))
    errors.sort(key=lambda e: (e.line, e.column))
    return errors


def _collect(args: list[str]) -> tuple[list[Path], list[str]]:
    files, missing = [], []
    for a in args:
        p = Path(a)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.sql") if q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            missing.append(a)
    return files, missing


def main(argv: list[str]) -> int:
    if not argv or any(a in ("-h", "--help") for a in argv):
        sys.stderr.write(__doc__ or "")
        return 2 if not argv else 0
    files, missing = _collect(argv)
    for m in missing:
        print(f"{m}: no such file or directory", file=sys.stderr)
    if missing:
        return 2
    if not files:
        print("check_sql: no .sql files found in " + " ".join(argv), file=sys.stderr)
        return 2
    failed = 0
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{f}: cannot read: {exc}")
            failed += 1
            continue
        errs = check_text(text)
        if errs:
            failed += 1
            for e in errs:
                print(f"{f}:{e.line}:{e.column}: {e.msg}")
    ok = len(files) - failed
    print(f"check_sql: {ok}/{len(files)} file(s) pass" + (f", {failed} FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
