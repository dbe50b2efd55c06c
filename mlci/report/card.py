"""The model card stored with every promoted version: the audit trail in one page of markdown.

What a deployer or auditor asks of a version: which code and data made it, with which params,
how good it is (with confidence intervals), whether it passed its gate, and who approved it when.
Everything in it comes from the run record and the PR (names, values, logins, URLs), so every
value goes through `mlci.report.markdown`: the card is escaped by construction.
"""

from __future__ import annotations

import re
from typing import Any

from mlci.report import format as fmt
from mlci.report import markdown as md


def compact_evidence(significances: dict[str, Any]) -> dict[str, Any]:
    """Per model and metric: head value, its CI, Δ and the CI of Δ (what a card shows), from
    `stats.Significance` objects; stored in the run record by `mlci ci`."""
    out: dict[str, Any] = {}
    for model, sig in significances.items():
        metrics = {}
        for name, m in sig.metrics.items():
            metrics[name] = {
                "head": m.head,
                "head_ci": list(m.head_ci) if m.head_ci else None,
                "delta": m.delta,
                "delta_ci": [m.ci_low, m.ci_high] if m.ci_low is not None else None,
            }
        out[model] = {
            "confidence": sig.confidence,
            "paired": sig.paired,
            "rows": sig.rows,
            "resamples": sig.resamples,
            "skipped": sig.skipped,
            "metrics": metrics,
        }
    return out


def _interval(ci: list | None) -> str:
    return f"[{fmt.number(ci[0])}, {fmt.number(ci[1])}]" if ci else "—"


def _metrics_rows(metadata: dict[str, Any]) -> tuple[list[list[str]], str | None]:
    evidence = metadata.get("evidence") or {}
    rows = []
    for file, values in sorted((metadata.get("metrics") or {}).items()):
        for name, value in sorted(values.items()):
            found = next((e["metrics"][name] for e in evidence.values() if name in e.get("metrics", {})), None)
            shown = fmt.number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
            rows.append(
                [
                    md.code(name),
                    md.code(file),
                    md.code(shown),
                    _interval(found and found.get("head_ci")),
                    _interval(found and found.get("delta_ci")),
                ]
            )
    if not evidence:
        return (
            rows,
            "no confidence intervals: this run recorded none (no `predictions:` configured, or not run by `mlci ci`)",
        )
    level = next(iter(evidence.values())).get("confidence", 0.95)
    return rows, f"{level:.0%} bootstrap intervals from the PR run's predictions"


_SAFE_URL = re.compile(
    r"https://[A-Za-z0-9.-]+/[A-Za-z0-9._/#-]*"
)  # GitHub's review links; anything else is not linked


def _approval_lines(approval: dict[str, Any]) -> list[str]:
    kind = approval.get("kind")
    if kind == "review":
        when = f" on {md.code(approval['approved_at'])}" if approval.get("approved_at") else ""
        url = str(approval.get("review_url") or "")
        link = f" ([review]({url}))" if _SAFE_URL.fullmatch(url) else ""
        return [
            f"- **Approved by** {md.code(approval.get('reviewer'))}{when} at commit "
            f"{md.code(approval.get('commit'))}{link}"
        ]
    if kind == "default-branch":
        return [f"- **Promoted from the default branch** {md.code(approval.get('branch'))}"]
    if kind == "forced":
        return [f"- **Forced** (`--force`) by {md.code(approval.get('by') or 'unknown')}: no approval"]
    return [f"- **Approval:** {md.code(kind)}"]


def model_card(name: str, version: str, metadata: dict[str, Any]) -> str:
    """Markdown card of one version, from the metadata `mlci promote` stores with it."""
    lines = [f"## Model card: {md.code(f'{name}@{version}')}", ""]
    lines += [
        f"- **Code:** commit {md.code(metadata.get('commit'))}"
        + (f", PR #{int(metadata['pr'])}" if isinstance(metadata.get("pr"), int) else ""),
        f"- **Run record:** {md.code(metadata.get('record'))}",
        f"- **Model bytes:** sha256 {md.code(metadata.get('sha256'))}, {md.code(metadata.get('size'))} bytes",
    ]
    lines += _approval_lines(metadata.get("approval") or {})
    gate = metadata.get("gate")
    passed = None if not isinstance(gate, dict) else gate.get("passed")
    lines.append(
        "- **Gate:** "
        + {True: "passed", False: "FAILED (promoted with --allow-regression)", None: "not evaluated"}[
            passed if passed in (True, False) else None
        ]
    )
    lines += [f"- ⚠️ {md.text(w)}" for w in metadata.get("warnings") or []]
    lines += [f"- **Promoted at:** {md.code(metadata.get('promoted_at'))} by mlci {md.code(metadata.get('mlci'))}", ""]
    rows, caption = _metrics_rows(metadata)
    lines += ["### Metrics", "", md.text(caption), ""]
    lines += (
        md.table(["metric", "file", "value", "CI", "CI of Δ vs base"], "llrll", rows) if rows else ["none recorded"]
    )
    params = metadata.get("params") or {}
    lines += ["", "### Params", ""]
    flat = [
        [md.code(key), md.code(file), md.code(value)]
        for file, values in sorted(params.items())
        for key, value in sorted(values.items())
    ]
    lines += md.table(["param", "file", "value"], "lll", flat) if flat else ["none recorded"]
    deps = metadata.get("deps") or {}
    lines += ["", "### Data and code inputs (DVC hashes)", ""]
    lines += (
        md.table(["path", "md5"], "ll", [[md.code(p), md.code(h)] for p, h in sorted(deps.items())])
        if deps
        else ["none recorded"]
    )
    return "\n".join(lines).rstrip("\n") + "\n"
