"""pytest plugin: the ``claim`` fixture, the claims table and ``--claims-report``.

Registered through the ``pytest11`` entry point, so it is active wherever
attnprobe is installed; it prints nothing unless a collected test is a claim.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from paper_checks.claims import ClaimRecorder, Source

_RECORDERS = pytest.StashKey[dict]()
_SEEN_IDS = pytest.StashKey[dict]()
_ROWS = pytest.StashKey[dict]()
_CALL_PASSED = pytest.StashKey[bool]()


@dataclass
class ClaimRow:
    id: str
    source: Source
    statement: str
    nodeid: str
    outcome: str  # "pass" | "FAIL" | "skip" | "error"
    recorder: ClaimRecorder | None
    seconds: float = 0.0
    message: str = ""

    def to_dict(self) -> dict:
        rec = self.recorder
        return {
            "id": self.id,
            "source": self.source.to_dict(),
            "statement": self.statement,
            "test": self.nodeid,
            "verdict": self.outcome,
            "checks": [c.to_dict() for c in rec.checks] if rec else [],
            "seeds": rec.seeds if rec else [],
            "dtype": rec.dtype if rec else None,
            "notes": rec.notes if rec else [],
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }


def pytest_addoption(parser):
    group = parser.getgroup("attnprobe", "attnprobe paper claims")
    group.addoption("--claims-report", action="append", default=[], metavar="PATH",
                    help="write the claims table to PATH (.json or .md); may be given twice")
    group.addoption("--no-claims-table", action="store_true", default=False,
                    help="do not print the claims table at the end of the run")


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id, source, statement): a paper claim (attnprobe)")
    config.stash[_RECORDERS] = {}
    config.stash[_SEEN_IDS] = {}
    for p in config.getoption("--claims-report") or []:
        if Path(p).suffix.lower() not in (".json", ".md"):
            raise pytest.UsageError(f"--claims-report {p}: the file must end in .json or .md")


def _marker(item):
    return item.get_closest_marker("claim")


def pytest_collection_modifyitems(session, config, items):
    seen = config.stash[_SEEN_IDS]
    for item in items:
        m = _marker(item)
        if m is None:
            continue
        cid = m.kwargs.get("id")
        base = item.nodeid.split("[")[0]
        if cid in seen and seen[cid] != base:
            raise pytest.UsageError(f"claim id {cid!r} is used by two tests: {seen[cid]} and {base}")
        seen[cid] = base


@pytest.fixture
def claim(request) -> ClaimRecorder:
    """The recorder of the current claim (the test must be decorated with ``@claim``)."""
    m = _marker(request.node)
    if m is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the 'claim' fixture but has no @claim(...) marker")
    cid = m.kwargs["id"]
    if "[" in request.node.nodeid:
        cid = f"{cid}[{request.node.nodeid.split('[', 1)[1].rstrip(']')}]"
    rec = ClaimRecorder(cid, m.kwargs["source"], m.kwargs["statement"], m.kwargs.get("attribution", "paper"))
    request.config.stash[_RECORDERS][request.node.nodeid] = rec
    yield rec
    if not request.node.stash.get(_CALL_PASSED, False):
        return  # the test already failed or was skipped; its own error says why
    if not rec.checks:
        raise AssertionError(f"[{cid}] recorded no check: a claim must check something")
    if not any(c.control for c in rec.checks):
        raise AssertionError(f"[{cid}] has no negative control: record one through claim.control")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    m = _marker(item)
    if m is None:
        return
    rows = item.config.stash.setdefault(_ROWS, {})
    row = rows.get(item.nodeid)
    if row is None:
        rec = item.config.stash[_RECORDERS].get(item.nodeid)
        cid = rec.id if rec else m.kwargs["id"]
        row = ClaimRow(cid, m.kwargs["source"], m.kwargs["statement"], item.nodeid, "pass", rec)
        rows[item.nodeid] = row
    row.recorder = item.config.stash[_RECORDERS].get(item.nodeid) or row.recorder
    row.seconds += getattr(report, "duration", 0.0)
    if report.skipped:
        row.outcome = "skip"
        row.message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "skipped"
    elif report.failed:
        row.outcome = "FAIL" if report.when == "call" else "error"
        msg = getattr(report, "longreprtext", "") or ""
        lines = [ln for ln in msg.splitlines() if "check failed" in ln or ln.startswith("E ")]
        row.message = (lines[-1] if lines else msg.splitlines()[-1] if msg else "").lstrip("E ").strip()


def environment() -> dict:
    """Versions and machine facts written beside every claims report."""
    import numpy
    import scipy
    import sympy

    try:
        import torch

        torch_v = torch.__version__
    except ImportError:  # pragma: no cover
        torch_v = None
    from probes import __version__

    commit = None
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except Exception:
        pass
    return {
        "attnprobe": __version__, "git_commit": commit, "python": sys.version.split()[0],
        "torch": torch_v, "numpy": numpy.__version__, "scipy": scipy.__version__,
        "sympy": sympy.__version__, "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table_rows(rows: list[ClaimRow]) -> list[list[str]]:
    """One line per recorded check: claim, source, check, expected, measured, verdict.

    The claim id and source stand on the claim's first line; control checks are
    marked and their verdict reads ``flips`` when the broken premise fails the check
    as it should. A claim that errored before recording anything gets one line.
    """
    out = []
    for r in rows:
        checks = r.recorder.checks if r.recorder else []
        head = [r.id, r.source.short()]
        if not checks:
            out.append(head + ["(no check recorded)", "", r.message[:80], r.outcome])
            continue
        for k, c in enumerate(checks):
            ids = head if k == 0 else ["", ""]
            if c.control:
                verdict = "flips" if c.passed else "NO FLIP"
                name = f"control: {c.quantity}"
            else:
                verdict = "pass" if c.passed else "FAIL"
                name = c.quantity
            out.append(ids + [name, c.expected, c.measured, verdict])
        if r.outcome not in ("pass",) and all(c.passed for c in checks):
            out.append(["", "", "(claim did not finish)", "", r.message[:80], r.outcome])
    return out


def rows_to_markdown(rows: list[ClaimRow], env: dict) -> str:
    def cell(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    out = ["# attnprobe claims report", "",
           ", ".join(f"{k} {v}" for k, v in env.items() if v), "",
           "| claim | source | check | expected | measured | verdict |", "|---|---|---|---|---|---|"]
    for line in table_rows(rows):
        line = [f"`{line[0]}`" if line[0] else ""] + [cell(x) for x in line[1:]]
        out.append("| " + " | ".join(line) + " |")
    out += ["", "## Statements and sources", ""]
    for r in rows:
        seeds = f" Seeds {r.recorder.seeds}, {r.recorder.dtype}." if r.recorder and r.recorder.seeds else ""
        out.append(f"- **{r.id}** ({r.outcome}) — {r.statement} *{r.source.cite()}*.{seeds}")
    return "\n".join(out) + "\n"


def _terminal_table(rows: list[ClaimRow], width: int) -> list[str]:
    cols = ["claim", "source", "check", "expected", "measured", "verdict"]
    data = table_rows(rows)
    limit = [40, 30, 52, 24, 24, 7]
    w = [min(max([len(c)] + [len(str(d[i])) for d in data]), limit[i]) for i, c in enumerate(cols)]

    def clip(s, n):
        s = str(s)
        return s if len(s) <= n else s[: max(n - 1, 1)] + "…"

    def line(vals):
        return "  ".join(clip(v, w[i]).ljust(w[i]) for i, v in enumerate(vals)).rstrip()

    return [line(cols), line(["-" * x for x in w])] + [line(d) for d in data]


def collected_rows(config) -> list[ClaimRow]:
    return sorted(config.stash.get(_ROWS, {}).values(), key=lambda r: r.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = collected_rows(config)
    if not rows or config.getoption("--no-claims-table"):
        return
    tr = terminalreporter
    tr.section("attnprobe claims")
    for ln in _terminal_table(rows, tr._tw.fullwidth):
        tr.write_line(ln)
    n_pass = sum(r.outcome == "pass" for r in rows)
    n_ctrl = sum(1 for r in rows if r.recorder and any(c.control for c in r.recorder.checks))
    tr.write_line(f"{n_pass}/{len(rows)} claims hold; {n_ctrl} recorded a negative control")
    for p in config.getoption("--claims-report") or []:
        tr.write_line(f"claims report written to {p}")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    paths = config.getoption("--claims-report") or []
    rows = collected_rows(config)
    if not paths:
        return
    env = environment()
    for p in paths:
        path = Path(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps({"environment": env, "claims": [r.to_dict() for r in rows]},
                                       indent=2, default=str) + "\n")
        else:
            path.write_text(rows_to_markdown(rows, env))


# -- listing without running (``attnprobe claims``) ---------------------------
class _Lister:
    def __init__(self):
        self.claims: list[dict] = []

    def pytest_collection_modifyitems(self, session, config, items):
        seen = set()
        for item in items:
            m = _marker(item)
            if m is None or m.kwargs["id"] in seen:
                continue
            seen.add(m.kwargs["id"])
            self.claims.append({"id": m.kwargs["id"], "source": m.kwargs["source"].to_dict(),
                                "statement": m.kwargs["statement"], "test": item.nodeid.split("[")[0]})


def list_claims(path: str | None = None) -> list[dict]:
    """Collect (without running) every claim under ``path`` (default: the installed paper_checks)."""
    import contextlib
    import io

    target = path or str(Path(__file__).resolve().parent)
    lister = _Lister()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = pytest.main([target, "--collect-only", "-q", "-p", "no:cacheprovider",
                            "--rootdir", str(Path(target).resolve().parent)], plugins=[lister])
    if code not in (0, 5):
        raise RuntimeError(f"collecting claims under {target} failed (pytest exit {code}):\n{buf.getvalue()[-2000:]}")
    return sorted(lister.claims, key=lambda c: c["id"])
