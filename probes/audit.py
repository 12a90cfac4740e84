"""The audit a researcher runs: every registered probe that applies to one design, in one table.

:func:`run_audit` asks each probe of :data:`probes.registry.PROBES` whether it applies
(``applies_to``, from the design's tags), runs those that do and collects one row per probe —
property, verdict, key figure, theory prediction, agrees? (``Probe.summary``) — or the reason
it was skipped. A probe whose measurement goes non-finite is reported as ``diverged`` and the
audit goes on; Ctrl-C keeps the probes that finished (the interrupted one is marked). A
probe asked for by name (``names_given``) that does not apply, or diverges, is an error instead.

:class:`Audit` renders the table for the terminal, as JSON (``report()``) and as a Markdown
report with each probe's section and PNG plots (``write(out_dir)``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probes.contract import Probe, Summary
from probes.errors import Diverged, InputError, NotApplicable
from probes.result import jsonable

__all__ = ["AuditRow", "Audit", "run_audit"]


@dataclass
class AuditRow:
    probe: Probe
    status: str                     # ok | skipped | diverged | interrupted
    result: Any = None
    summary: Summary | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        out = {"probe": self.probe.name, "property": self.probe.title, "status": self.status}
        if self.summary is not None:
            out.update(self.summary.to_dict())
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class Audit:
    subject: Any
    rows: list[AuditRow] = field(default_factory=list)
    interrupted: str | None = None  # the probe running when Ctrl-C came

    @property
    def finished(self) -> list[AuditRow]:
        return [r for r in self.rows if r.status == "ok"]

    # -- JSON -------------------------------------------------------------------------------
    def report(self) -> dict:
        """One object: the design, each probe's result (or why there is none) by JSON key, and the table."""
        probes: dict[str, Any] = {}
        for r in self.rows:
            key = r.probe.json_key
            if r.status == "ok":
                probes[key] = r.result.to_dict()
            elif r.status == "skipped":
                probes[key] = {"skipped": r.reason}
            elif r.status in ("diverged", "failed"):
                probes[key] = {"outcome": r.status, "reason": r.reason}
            else:
                probes[key] = {"interrupted": True}
        return jsonable({"design": self.subject.describe(), "probes": probes,
                         "table": [r.to_dict() for r in self.rows]})

    # -- the table ------------------------------------------------------------------------------
    HEADER = ("property", "verdict", "key figure", "theory", "agrees?")

    def _cells(self) -> list[tuple[str, ...]]:
        out = []
        for r in self.rows:
            if r.summary is not None:
                s = r.summary
                agrees = {True: "yes", False: "NO", None: "—"}[s.agrees]
                out.append((r.probe.title, s.verdict, s.key_figure, s.theory, agrees))
            else:
                out.append((r.probe.title, r.status, "(see below)" if r.reason else "", "", ""))
        return out

    def _reasons(self) -> list[str]:
        """One line per distinct (status, reason), naming every probe it applies to."""
        groups: dict[tuple[str, str], list[str]] = {}
        for r in self.rows:
            if r.status != "ok" and r.reason:
                groups.setdefault((r.status, r.reason), []).append(r.probe.name)
        return [f"{', '.join(names)}: {status} — {reason}" for (status, reason), names in groups.items()]

    def table(self) -> str:
        """The terminal table (and, below it, why any probe has no verdict)."""
        rows = [self.HEADER] + self._cells()
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.HEADER))]
        fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
        lines = [fmt(rows[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[1:]]
        reasons = self._reasons()
        if reasons:
            lines += [""] + reasons
        return "\n".join(lines)

    def markdown_table(self) -> str:
        esc = lambda c: c.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self._cells()]
        reasons = self._reasons()
        if reasons:
            lines += [""] + [f"- {esc(r)}" for r in reasons]
        return "\n".join(lines)

    # -- the report folder ------------------------------------------------------------------------
    def write(self, out_dir) -> tuple[Path, Path]:
        """``report.md`` (the table, then each finished probe's section and plots) and ``report.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.report(), indent=2) + "\n")
        md = [f"# attnprobe audit: {self.subject.name}", "", self.subject.summary(), "", self.markdown_table(), ""]
        for r in self.finished:
            md += [f"## {r.probe.name}", "", "```", str(r.result), "```", "", r.probe.markdown(r.result), ""]
            for png in r.probe.plots(r.result, out):
                md += [f"![{r.probe.name}]({Path(png).name})", ""]
        (out / "report.md").write_text("\n".join(md))
        return out / "report.md", out / "report.json"


def run_audit(subject, probes: list[Probe], options: dict, *, names_given: bool = False,
              show_progress: bool = True) -> Audit:
    """Run ``probes`` on ``subject`` with ``options`` (the CLI's, see :meth:`Probe.options`).

    ``names_given``: the probes were asked for by name, so one that does not apply or diverges
    raises instead of being skipped. Raises :class:`InputError` if no probe applies at all.
    """
    from probes.progress import progress

    audit = Audit(subject)
    with progress(len(probes), f"audit {subject.name}", unit="probe", enabled=show_progress) as bar:
        for p in probes:
            bar.set_status(f"running {p.name}")
            ok, why = p.applies_to(subject, options)
            if not ok:
                if names_given:
                    raise NotApplicable(why)
                audit.rows.append(AuditRow(p, "skipped", reason=why))
                bar.status = f"skipped {p.name}"
                bar.update(1)
                continue
            try:
                res = p.run(subject, options)
            except NotApplicable as exc:
                if names_given:
                    raise
                audit.rows.append(AuditRow(p, "skipped", reason=str(exc)))
            except Diverged as exc:
                if names_given:
                    raise
                audit.rows.append(AuditRow(p, "diverged", reason=str(exc)))
            except InputError:
                raise
            except Exception as exc:  # raised inside the user's own module: one line naming it, not a traceback
                msg = subject.design_failure(exc, f"the {p.name} probe") if hasattr(subject, "design_failure") else None
                if msg is None:
                    raise  # attnprobe's own bug: the traceback is the bug report
                if names_given:
                    raise InputError(msg) from exc
                audit.rows.append(AuditRow(p, "failed", reason=msg))
            except KeyboardInterrupt:
                if not audit.finished:
                    raise
                audit.interrupted = p.name  # keep what finished
                audit.rows.append(AuditRow(p, "interrupted",
                                           reason="interrupted (Ctrl-C); the probes before it are reported"))
                break
            else:
                audit.rows.append(AuditRow(p, "ok", result=res, summary=p.summary(res)))
            bar.status = f"finished {p.name}"
            bar.update(1)
    if not audit.finished:
        raise InputError(f"no probe applies to {subject.name}: "
                         + "; ".join(f"{r.probe.name}: {r.reason}" for r in audit.rows))
    return audit
