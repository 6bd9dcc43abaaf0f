"""Code typed into a database console or an interpreter, judged by what it does.

SQL is read with sqlparse (comments, strings and quoted names as the database reads them): a
statement that drops, truncates, or deletes or updates every row is destructive. Code for an
interpreter (``python -c``, a Python or Node console) is read by the calls it makes: calls that
delete files, calls that run other programs (whose command strings are judged as shell), and
code built from a download or a decoded blob at run time.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import sqlparse
from sqlparse import tokens as T


@dataclass(frozen=True)
class Finding:
    """One reason to ask a person: what kind of harm, in words a person reads."""

    category: str
    reason: str


def judge_sql(text: str) -> list[Finding]:
    """Findings for destructive SQL statements in ``text`` (and Redis/MongoDB wipes)."""
    findings = _judge_datastore(text)
    if not re.search(r"(?i)\b(drop|truncate|delete|update|alter|grant|exec|execute|call)\b", text):
        return findings
    for statement in sqlparse.parse(text):
        words = [t.normalized.upper() if t.ttype in T.Keyword else t.value.upper()
                 for t in statement.flatten() if not t.is_whitespace and t.ttype not in T.Comment]
        words = [w for w in words if w.strip()]
        reason = _destructive_statement(words)
        if reason:
            findings.append(Finding("sql", reason))
    return findings


def _destructive_statement(words: list[str]) -> str:
    if not words:
        return ""
    first = words[0]
    if first == "DROP" and len(words) > 1 and words[1] in _OBJECTS:
        return f"SQL DROP {words[1]}: removes it and everything in it"
    if first in ("EXEC", "EXECUTE", "CALL") and any("DROP" in w or "TRUNCATE" in w or "DELETE" in w for w in words):
        return f"SQL {first} of a statement that drops, truncates or deletes"
    if first == "GRANT" and "ALL" in words:
        return "SQL GRANT ALL: gives every privilege away"
    if first == "TRUNCATE" and len(words) > 1 and not words[1].startswith("-"):
        return "SQL TRUNCATE: empties the table"
    if first == "ALTER" and "DROP" in words:
        return "SQL ALTER ... DROP: removes part of a table and its data"
    if first == "DELETE" and "FROM" in words[:3]:
        return _every_row(words, "DELETE: removes")
    if first == "UPDATE" and "SET" in words:
        return _every_row(words, "UPDATE: changes")
    return ""


_OBJECTS = {"TABLE", "DATABASE", "SCHEMA", "INDEX", "VIEW", "USER", "ROLE", "COLUMN", "TRIGGER", "PROCEDURE", "FUNCTION",
            "SEQUENCE", "TABLESPACE", "COLLECTION", "KEYSPACE", "OWNED", "EXTENSION", "TYPE", "DOMAIN", "IF", "MATERIALIZED",
            "TEMPORARY", "TEMP", "EVENT", "LOGIN", "PUBLICATION", "SUBSCRIPTION", "SERVER", "POLICY", "RULE"}


def _every_row(words: list[str], what: str) -> str:
    if "WHERE" not in words:
        return f"SQL {what} every row (no WHERE clause)"
    condition = words[words.index("WHERE") + 1:]
    for end in ("ORDER", "LIMIT", "RETURNING", ";"):
        if end in condition:
            condition = condition[:condition.index(end)]
    if _always_true(condition):
        return f"SQL {what} every row (its WHERE clause is always true)"
    return ""


def _always_true(condition: list[str]) -> bool:
    """``WHERE 1``, ``WHERE TRUE``, ``WHERE 1=1``, ``WHERE 'a'='a'``, ``... OR id=id``."""
    for clause in " ".join(condition).split(" OR "):
        words = clause.split()
        if words in (["1"], ["TRUE"], ["NOT", "FALSE"]) or words[-3:] == ["IS", "NOT", "NULL"] and len(words) == 4:
            return True
        joined = "".join(words)
        if "=" in joined and joined.count("=") == 1:
            left, right = joined.split("=")
            if left and left == right:
                return True
    return False


def _judge_datastore(text: str) -> list[Finding]:
    findings = []
    if re.search(r"(?i)^\s*(flushall|flushdb)\b", text, re.M):
        findings.append(Finding("sql", "Redis FLUSHALL/FLUSHDB: deletes every key"))
    if re.search(r"(?i)^\s*(config\s+set|shutdown(\s+(nosave|save|now|force|abort))*\s*$|debug\s|slaveof|replicaof"
                 r"|module\s+load)", text, re.M):
        findings.append(Finding("sql", "Redis command that reconfigures or stops the server"))
    if re.search(r"\.\s*(dropDatabase|drop|dropAllUsers|dropUser)\s*\(|\.\s*(deleteMany|remove|updateMany|replaceOne)"
                 r"\s*\(\s*\{\s*\}", text):
        findings.append(Finding("sql", "MongoDB drop or delete of a whole collection or database"))
    return findings


# Calls that delete files, in the languages people type one-liners in.
_DELETES = re.compile(r"""
    shutil\s*\.\s*rmtree | \bos\s*\.\s*(remove|unlink|rmdir|removedirs)\b | \.\s*(unlink|rmdir)\s*\(
  | \bsend2trash\b | \bfs(\.promises)?\s*\.\s*(rm|rmdir|unlink)\b | \.\s*(rmSync|rmdirSync|unlinkSync)\b | \brimraf\b
  | \bFileUtils\s*\.\s*(rm|rm_r|rm_rf|rm_f|remove_dir|remove_entry|remove_entry_secure)\b
  | \bFile\s*\.\s*(delete|unlink)\b | \bDir\s*\.\s*(rmdir|delete|unlink)\b
  | \b(unlink|rmtree|remove_tree|rmdir)\s*[\s(] | ["']unlink["'] | \bRemove-Item\b
""", re.VERBOSE)
# Calls that run other programs.
_RUNS = re.compile(r"""
    \bos\s*\.\s*(system|popen|exec\w*|spawn\w*)\b | \bsubprocess\b | \bpty\s*\.\s*spawn\b | \bcommands\s*\.\s*getoutput
  | \bchild_process\b | \bexecSync\b | \bspawnSync\b | \bexecFileSync\b
  | \b(system|exec|shell_exec|passthru|popen|proc_open|spawn)\s*\( | \bsystem\s+["'] | `[^`]+` | %x[{(\[]
  | \bqx\s*[{(/] | \bIO\s*\.\s*popen | \bOpen3\b | \bKernel\s*\.\s*(system|exec|spawn)
""", re.VERBOSE)
# Code that builds code from a download or a decoded blob, then runs it.
_FETCHES = re.compile(r"\burlopen\b|\brequests\s*\.\s*get\b|\burllib\b|\bhttpx\b|\bfetch\s*\(|\bhttps?\.get\b"
                      r"|\bLWP::|\bNet::HTTP\b|\bopen-uri\b|\bURI\.open\b|\bInvoke-WebRequest\b|\bDownloadString\b")
_DECODES = re.compile(r"b64decode|base64|\batob\s*\(|decode\s*\(\s*['\"](hex|rot13|base64)|\bbytes\.fromhex\b"
                      r"|\bcodecs\s*\.\s*decode|\bfromCharCode\b|\bunhexlify\b|\bmarshal\s*\.\s*loads|\bzlib\b")
_EVALS = re.compile(r"\b(exec|eval|compile)\s*\(|\bnew\s+Function\s*\(|\bFunction\s*\(|\binstance_eval\b|\bIEX\b")
_STRING = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")


def judge_code(code: str, shell_judge) -> list[Finding]:  # type: ignore[no-untyped-def]
    """Findings for interpreter code; ``shell_judge`` reads the command strings it runs."""
    findings = []
    if _DELETES.search(code):
        findings.append(Finding("interpreter", "code that deletes files or folders"))
    if (_FETCHES.search(code) or _DECODES.search(code)) and (_EVALS.search(code) or _RUNS.search(code)):
        findings.append(Finding("fetch_exec", "code that runs what it downloads or decodes"))
    if _RUNS.search(code):
        for listed in re.finditer(r"\[([^\[\]]*)\]", code):  # subprocess.run(['rm', '-rf', path])
            words = [m.group(1) if m.group(1) is not None else m.group(2) for m in _STRING.finditer(listed.group(1))]
            if words:
                findings += shell_judge(" ".join(shlex.quote(w) for w in words))
        for match in _STRING.finditer(code):
            literal = match.group(1) if match.group(1) is not None else match.group(2)
            findings += shell_judge(literal.replace("\\n", "\n"))
        inner = [m.group(1) or m.group(2) or "" for m in _STRING.finditer(code)]
        if not inner:
            findings.append(Finding("interpreter", "code that runs commands it builds at run time"))
    return findings
