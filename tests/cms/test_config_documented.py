"""Every environment variable the settings read is in the README's Configuration table, and the table lists no
variable nothing reads."""

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "cms" / "settings.py"
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_environ(node: ast.AST) -> bool:
    return ast.unparse(node) == "os.environ"


def settings_reads(source: str) -> set[str]:
    """The variables `source` reads: env(...), env.<cast>(...), os.environ.get(...), os.environ[...], os.getenv."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and (name := _text(node.args[0])):
            func = node.func
            if (
                (isinstance(func, ast.Name) and func.id == "env")
                or (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env")
                or (isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value))
                or ast.unparse(func) == "os.getenv"
            ):
                names.add(name)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and (name := _text(node.slice)):
            names.add(name)
    return names


def settings_comments_name(source: str) -> set[str]:
    """Variable names the settings' comments mention: those a library reads itself (the Momento SDK's, say)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {name for t in tokens if t.type == tokenize.COMMENT for name in VARIABLE.findall(t.string)}


def table_rows() -> list[str]:
    """The variables the README's Configuration table lists, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.MULTILINE)


def test_the_parser_finds_each_way_of_reading_the_environment():
    source = (
        'import os\nA = env("ONE", default=1)\nB = env.int("TWO")\nC = env.list("THREE", default=[])\n'
        'D = os.environ.get("FOUR", "")\nE = os.environ["FIVE"]\nF = os.getenv("SIX")\nG = {"k": env.bool("SEVEN")}\n'
    )
    assert settings_reads(source) == {"ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN"}


def test_every_variable_the_settings_read_is_in_the_configuration_table():
    read = settings_reads(SETTINGS.read_text(encoding="utf-8"))
    assert len(read) > 40  # the parser still recognises how the settings read the environment
    missing = sorted(read - set(table_rows()))
    assert not missing, f"cms/settings.py reads {', '.join(missing)}, which README.md's Configuration table lacks"


def test_the_configuration_table_lists_only_variables_something_reads_and_each_once():
    source = SETTINGS.read_text(encoding="utf-8")
    rows = table_rows()
    assert len(rows) == len(set(rows)), f"listed twice: {sorted({r for r in rows if rows.count(r) > 1})}"
    # A variable the settings do not read is listed only if their comments name it (a library reads it itself).
    unread = sorted(set(rows) - settings_reads(source) - settings_comments_name(source))
    assert not unread, f"README.md's Configuration table lists {', '.join(unread)}, which cms/settings.py never reads"
