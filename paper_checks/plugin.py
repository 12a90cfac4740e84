"""pytest plugin: the ``claim`` fixture, the claims table, ``--claims-report`` and ``--claims-seeds``.

Registered through the ``pytest11`` entry point, so it is active wherever
attnprobe is installed; it prints nothing unless a collected test is a claim.

``--claims-seeds 0,1,2,3,4`` runs every claim once per seed offset (``claim.seed(s)``
returns ``s + offset``) and prints, per claim, the worst margin over the seeds: the
smallest fraction of a tolerance or bound left by any check (negative: it failed),
and which check it was (:meth:`ClaimRecorder.worst_margin`).
"""
from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from paper_checks.claims import ATTRIBUTIONS, ClaimContractError, ClaimRecorder, Source

__all__ = ["list_claims", "collect_claims", "ClaimRow", "seed_summary"]

_RECORDERS = pytest.StashKey[dict]()
_SEEN_IDS = pytest.StashKey[dict]()
_ROWS = pytest.StashKey[dict]()
_CALL_PASSED = pytest.StashKey[bool]()
_OFFSETS = pytest.StashKey[list]()

SEED_FIXTURE = "_claims_seed_offset"
_SEED_ID = re.compile(r"(?:^|-)seed\d+(?=-|$)")


@dataclass
class ClaimRow:
    id: str
    source: Source
    statement: str
    attribution: str
    nodeid: str
    outcome: str  # "pass" | "FAIL" | "CONTRACT" | "skip" | "error"
    recorder: ClaimRecorder | None
    seed_offset: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def base_id(self) -> str:
        """The claim id with its own parameters but without the ``--claims-seeds`` offset."""
        if "[" not in self.id:
            return self.id
        head, params = self.id.split("[", 1)
        params = _SEED_ID.sub("", params.rstrip("]")).strip("-")
        return f"{head}[{params}]" if params else head

    def worst(self) -> tuple[float | None, str | None]:
        """(margin, quantity) of the check nearest to failing; a failed exact check counts as −inf."""
        rec = self.recorder
        if rec is None:
            return None, None
        failed = [c for c in rec.checks if not c.passed and c.margin is None]
        if failed:
            return float("-inf"), failed[0].quantity
        return rec.worst_margin()

    def to_dict(self) -> dict:
        from probes.result import jsonable

        rec = self.recorder
        margin, quantity = self.worst()
        return {
            "id": self.id,
            "attribution": self.attribution,
            "source": self.source.to_dict(),
            "statement": self.statement,
            "test": self.nodeid,
            "verdict": self.outcome,
            "checks": [c.to_dict() for c in rec.checks] if rec else [],
            "seeds": rec.seeds if rec else [],
            "seed_offset": self.seed_offset,
            "worst_margin": {"margin": jsonable(margin), "check": quantity},
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
                    help="do not print the per-check claims table at the end of the run")
    group.addoption("--claims-seeds", default=None, metavar="K,K,...",
                    help="run every claim once per seed offset (e.g. 0,1,2,3,4) and report the worst margin "
                         "per claim over them (slow; not run in CI)")


def _parse_offsets(text: str | None) -> list[int]:
    if text is None:
        return []
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        out = []
    if not out or len(set(out)) != len(out):
        raise pytest.UsageError(f"--claims-seeds {text!r}: give distinct integers separated by commas, e.g. 0,1,2,3,4")
    return out


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(id, source, statement, attribution): a paper claim (attnprobe)")
    config.stash[_RECORDERS] = {}
    config.stash[_SEEN_IDS] = {}
    config.stash[_OFFSETS] = _parse_offsets(config.getoption("--claims-seeds"))
    for p in config.getoption("--claims-report") or []:
        if Path(p).suffix.lower() not in (".json", ".md"):
            raise pytest.UsageError(f"--claims-report {p}: the file must end in .json or .md")


def _marker(item):
    return item.get_closest_marker("claim")


def pytest_generate_tests(metafunc):
    offsets = metafunc.config.stash.get(_OFFSETS, [])
    if offsets and SEED_FIXTURE in metafunc.fixturenames and metafunc.definition.get_closest_marker("claim"):
        metafunc.parametrize(SEED_FIXTURE, offsets, indirect=True, ids=[f"seed{k}" for k in offsets])


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
def _claims_seed_offset(request) -> int:
    """The seed offset of this run of a claim (0 unless ``--claims-seeds`` parametrises it)."""
    return int(getattr(request, "param", 0))


def _claim_id(m, node) -> str:
    cid = m.kwargs["id"]
    if "[" in node.nodeid:
        cid = f"{cid}[{node.nodeid.split('[', 1)[1].rstrip(']')}]"
    return cid


@pytest.fixture
def claim(request, _claims_seed_offset) -> ClaimRecorder:
    """The recorder of the current claim (the test must be decorated with ``@claim``)."""
    m = _marker(request.node)
    if m is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses the 'claim' fixture but has no @claim(...) marker")
    cid = _claim_id(m, request.node)
    attribution = m.kwargs.get("attribution")
    if attribution not in ATTRIBUTIONS:
        raise ClaimContractError(f"[{cid}] attribution must be one of {ATTRIBUTIONS}, got {attribution!r}: "
                                 "use @claim(id, source, statement, attribution=...)")
    rec = ClaimRecorder(cid, m.kwargs["source"], m.kwargs["statement"], attribution,
                        seed_offset=_claims_seed_offset)
    request.config.stash[_RECORDERS][request.node.nodeid] = rec
    yield rec
    if not request.node.stash.get(_CALL_PASSED, False):
        return  # the test already failed or was skipped; its own error says why
    if rec.violations:
        raise ClaimContractError(f"[{cid}] broke the claims contract and the test went on (was the error caught?): "
                                 f"{rec.violations[0]}")
    failed = [c for c in rec.checks if not c.passed]
    if failed:
        raise AssertionError(f"[{cid}] a check failed and the test went on (was the error caught?): "
                             f"{failed[0].quantity}: expected {failed[0].expected}, measured {failed[0].measured}")
    if not rec.checks:
        raise ClaimContractError(f"[{cid}] recorded no check: a claim must check something")
    if not any(c.control for c in rec.checks):
        raise ClaimContractError(f"[{cid}] has no negative control: record one through claim.control")
    if not rec.seeds and _claims_seed_offset:
        rec.note("declares no seed: the same run under every --claims-seeds offset")


def _failure_line(report) -> str:
    msg = getattr(report, "longreprtext", "") or ""
    lines = [ln for ln in msg.splitlines() if "check failed" in ln or ln.startswith("E ")]
    line = (lines[-1] if lines else msg.splitlines()[-1] if msg else "").lstrip("E ").strip()
    return re.sub(r"^(?:[\w.]+\.)?(ClaimContractError|AssertionError): ", lambda m: "contract: " if m.group(1)
                  == "ClaimContractError" else "", line)


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
    rec = item.config.stash[_RECORDERS].get(item.nodeid)
    if row is None:
        offset = item.callspec.params.get(SEED_FIXTURE, 0) if hasattr(item, "callspec") else 0
        row = ClaimRow(rec.id if rec else _claim_id(m, item), m.kwargs["source"], m.kwargs["statement"],
                       str(m.kwargs.get("attribution")), item.nodeid, "pass", rec, seed_offset=int(offset))
        rows[item.nodeid] = row
    row.recorder = rec or row.recorder
    row.seconds += getattr(report, "duration", 0.0)
    if report.skipped and hasattr(report, "wasxfail"):
        row.outcome = "refuted"  # a published claim that does not hold: it failed, as its recorded finding says
        row.message = str(report.wasxfail)
    elif report.skipped:
        row.outcome = "skip"
        row.message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "skipped"
    elif report.failed and m.kwargs.get("refuted") and report.when == "call":
        row.outcome = "FAIL"
        row.message = (f"claim marked refuted ({m.kwargs['refuted']}) now holds: review the finding and drop "
                       "refuted=")
    elif report.failed:
        contract = call.excinfo is not None and call.excinfo.errisinstance(ClaimContractError)
        row.outcome = "CONTRACT" if contract else ("FAIL" if report.when == "call" else "error")
        row.message = _failure_line(report)


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


COLUMNS = ["claim", "attr", "source", "check", "expected", "measured", "verdict"]


def table_rows(rows: list[ClaimRow]) -> list[list[str]]:
    """One line per recorded check: claim, attribution, source, check, expected, measured, verdict.

    The claim id, attribution and source stand on the claim's first line; control checks
    are marked and their verdict reads ``flips`` when the broken premise fails the check
    as it should. A claim that errored before recording anything gets one line.
    """
    out = []
    for r in rows:
        checks = r.recorder.checks if r.recorder else []
        head = [r.id, r.attribution, r.source.short()]
        if not checks:
            out.append(head + ["(no check recorded)", "", r.message[:80], r.outcome])
            continue
        for k, c in enumerate(checks):
            ids = head if k == 0 else ["", "", ""]
            if c.control:
                verdict = "flips" if c.passed else "NO FLIP"
                name = f"control: {c.quantity}"
            else:
                verdict = "pass" if c.passed else "FAIL"
                name = c.quantity
            out.append(ids + [name, c.expected, c.measured, verdict])
        if r.outcome not in ("pass",) and all(c.passed for c in checks):
            out.append(["", "", "", "(claim did not finish)", "", r.message[:80], r.outcome])
    return out


def summary_line(rows: list[ClaimRow]) -> str:
    """'k/n claims hold (p/P paper, d/D derived); c recorded a negative control[; m distinct claim ids (...)]'."""
    n_pass = sum(r.outcome == "pass" for r in rows)
    parts = []
    for att in ATTRIBUTIONS:
        mine = [r for r in rows if r.attribution == att]
        parts.append(f"{sum(r.outcome == 'pass' for r in mine)}/{len(mine)} {att}")
    n_ctrl = sum(1 for r in rows if r.recorder and any(c.control for c in r.recorder.checks))
    line = f"{n_pass}/{len(rows)} claims hold ({', '.join(parts)}); {n_ctrl} recorded a negative control"
    n_ref = sum(r.outcome == "refuted" for r in rows)
    if n_ref:
        line += f"; {n_ref} refuted as stated (findings: see their rows)"
    ids = {}
    for r in rows:
        ids.setdefault(r.base_id.split("[")[0], r.attribution)
    if len(ids) != len(rows):
        split = ", ".join(f"{sum(a == att for a in ids.values())} {att}" for att in ATTRIBUTIONS)
        line += f"; {len(ids)} distinct claim ids ({split})"
    return line


def seed_summary(rows: list[ClaimRow]) -> list[dict]:
    """Per claim (its own parameters kept, the seed offset dropped): the worst margin over the seed offsets."""
    groups: dict[str, list[ClaimRow]] = {}
    for r in rows:
        groups.setdefault(r.base_id, []).append(r)
    out = []
    for cid, rs in groups.items():
        worst = (None, None, None)
        for r in sorted(rs, key=lambda r: r.seed_offset):
            m, q = r.worst()
            if r.outcome != "pass" and m is None:
                m, q = float("-inf"), r.message[:60] or r.outcome
            if m is not None and (worst[0] is None or m < worst[0]):
                worst = (m, q, r.seed_offset)
        out.append({"id": cid, "attribution": rs[0].attribution,
                    "offsets": sorted(r.seed_offset for r in rs),
                    "passed": sum(r.outcome == "pass" for r in rs), "runs": len(rs),
                    "failed_offsets": sorted(r.seed_offset for r in rs if r.outcome != "pass"),
                    "worst_margin": worst[0], "check": worst[1], "at_offset": worst[2]})
    return sorted(out, key=lambda d: d["id"])


def _fmt_margin(m) -> str:
    if m is None:
        return "exact"
    if m == float("-inf"):
        return "FAILED"
    return f"{m:+.3f}"


def rows_to_markdown(rows: list[ClaimRow], env: dict, seeds: list[dict] | None = None) -> str:
    def cell(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    out = ["# attnprobe claims report", "",
           ", ".join(f"{k} {v}" for k, v in env.items() if v), "", summary_line(rows), "",
           "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for line in table_rows(rows):
        line = [f"`{line[0]}`" if line[0] else ""] + [cell(x) for x in line[1:]]
        out.append("| " + " | ".join(line) + " |")
    if seeds:
        out += ["", "## Worst margin over seed offsets", "",
                "| claim | attr | runs passed | worst margin | check | offset |", "|---|---|---|---|---|---|"]
        for s in seeds:
            out.append(f"| `{s['id']}` | {s['attribution']} | {s['passed']}/{s['runs']} | "
                       f"{_fmt_margin(s['worst_margin'])} | {cell(s['check'] or '')} | {s['at_offset']} |")
    out += ["", "## Statements and sources", ""]
    for r in rows:
        seeds_used = f" Seeds {r.recorder.seeds}, {r.recorder.dtype}." if r.recorder and r.recorder.seeds else ""
        out.append(f"- **{r.id}** ({r.outcome}, {r.attribution}) — {r.statement} *{r.source.cite()}*.{seeds_used}")
    return "\n".join(out) + "\n"


def _clip(s, n):
    s = str(s)
    return s if len(s) <= n else s[: max(n - 1, 1)] + "…"


def _aligned(cols: list[str], data: list[list[str]], limit: list[int]) -> list[str]:
    w = [min(max([len(c)] + [len(str(d[i])) for d in data]), limit[i]) for i, c in enumerate(cols)]

    def line(vals):
        return "  ".join(_clip(v, w[i]).ljust(w[i]) for i, v in enumerate(vals)).rstrip()

    return [line(cols), line(["-" * x for x in w])] + [line(d) for d in data]


def _terminal_table(rows: list[ClaimRow], width: int) -> list[str]:
    return _aligned(COLUMNS, table_rows(rows), [40, 7, 30, 52, 24, 24, 8])


def _seed_table(seeds: list[dict]) -> list[str]:
    data = [[s["id"], s["attribution"], f"{s['passed']}/{s['runs']}", _fmt_margin(s["worst_margin"]),
             s["check"] or "", "" if s["at_offset"] is None else str(s["at_offset"])] for s in seeds]
    return _aligned(["claim", "attr", "passed", "worst margin", "check", "offset"], data, [56, 7, 6, 12, 60, 6])


def collected_rows(config) -> list[ClaimRow]:
    return sorted(config.stash.get(_ROWS, {}).values(), key=lambda r: r.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = collected_rows(config)
    if not rows:
        return
    tr = terminalreporter
    if not config.getoption("--no-claims-table"):
        tr.section("attnprobe claims")
        for ln in _terminal_table(rows, tr._tw.fullwidth):
            tr.write_line(ln)
    offsets = config.stash.get(_OFFSETS, [])
    if offsets:
        tr.section(f"attnprobe claims: worst margin over seed offsets {','.join(map(str, offsets))}")
        for ln in _seed_table(seed_summary(rows)):
            tr.write_line(ln)
        tr.write_line("margin: the fraction of a check's tolerance (close/far) or bound (less/greater) left; "
                      "negative or FAILED: a check failed")
    tr.write_line(summary_line(rows))
    for p in config.getoption("--claims-report") or []:
        tr.write_line(f"claims report written to {p}")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    paths = config.getoption("--claims-report") or []
    rows = collected_rows(config)
    if not paths:
        return
    env = environment()
    seeds = seed_summary(rows) if config.stash.get(_OFFSETS, []) else None
    counts = {att: len({r.base_id.split("[")[0] for r in rows if r.attribution == att}) for att in ATTRIBUTIONS}
    for p in paths:
        path = Path(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".json":
            doc = {"environment": env, "summary": summary_line(rows), "attribution_counts": counts,
                   "claims": [r.to_dict() for r in rows]}
            if seeds is not None:
                doc["seed_offsets"] = config.stash[_OFFSETS]
                from probes.result import jsonable

                doc["worst_margin_over_seeds"] = jsonable(seeds)
            path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        else:
            path.write_text(rows_to_markdown(rows, env, seeds))


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
            entry = {"id": m.kwargs["id"], "attribution": m.kwargs.get("attribution"),
                     "source": m.kwargs["source"].to_dict(), "statement": m.kwargs["statement"],
                     "test": item.nodeid.split("[")[0]}
            if m.kwargs.get("refuted"):
                entry["refuted"] = " ".join(str(m.kwargs["refuted"]).split())
            self.claims.append(entry)


def collect_claims(path: str | None = None) -> list[dict]:
    """Every claim under ``path`` as pytest collects it (imports every claim module: slow; for tests)."""
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


def list_claims(path: str | None = None) -> list[dict]:
    """Every claim under ``path`` (default: the installed paper_checks), read from the source with ``ast``:
    cheap, nothing of the claim modules is run (see :mod:`paper_checks.listing`)."""
    from paper_checks.listing import list_claims as _list

    return _list(path or str(Path(__file__).resolve().parent))
