"""The report's "History of main" section: where base and head fall among main's last runs.

For each goal metric one sentence ("head 0.9120 is above all of main's last 20 runs
(0.8800–0.9050)"), a small trend plot per model marking base and head, and, for a metric the
report has no interval for, the spread of main's reruns with unchanged inputs: labelled as a
noise estimate, never as a significance test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlci.report import format as fmt
from mlci.report import markdown as md

NOISE_LABEL = "noise estimate (the spread of main's reruns with unchanged inputs; not a significance test)"


def _runs(ref: str, n: int) -> str:
    return f"{ref}'s only recorded run" if n == 1 else f"{ref}'s last {n} runs"


def phrase(who: str, placement: Any, ref: str, *, again: bool = False) -> str:
    """`head 0.9120 is above all of main's last 20 runs (0.8800–0.9050)` (plain text: escape it to render).
    `again`: the runs were just named, so "them" (no range repeated)."""
    p = placement
    value = fmt.number(p.value)
    span = fmt.number(p.low) if p.runs == 1 or p.low == p.high else f"{fmt.number(p.low)}–{fmt.number(p.high)}"
    runs = "them" if again else f"{_runs(ref, p.runs)} ({span})"
    if p.runs == 1 and again:
        runs = "it"
    every = "" if p.runs == 1 else "all of "
    if p.position == "above":
        return f"{who} {value} is above {every}{runs}"
    if p.position == "below":
        return f"{who} {value} is below {every}{runs}"
    if p.position == "equal":
        return f"{who} {value} equals {every}{runs}"
    if p.above == 0:
        return f"{who} {value} ties the highest of {runs}"
    if p.below == 0:
        return f"{who} {value} ties the lowest of {runs}"
    return f"{who} {value} is within {runs}, above {p.below} and below {p.above} of them"


def sentence(m: Any, ref: str) -> str:
    """Head's and base's places among the runs, head first (what the PR would make of main)."""
    if m.head is not None and m.base is not None and m.head_value == m.base_value:
        return phrase("head = base", m.head, ref)
    if m.head is not None and m.base is not None:
        return phrase("head", m.head, ref) + "; " + phrase("base", m.base, ref, again=True)
    if m.head is not None:
        return phrase("head", m.head, ref)
    if m.base is not None:
        return phrase("base", m.base, ref)
    return f"no base or head value to place among {ref}'s runs"


def noise_line(m: Any, delta: float | None) -> str:
    n = m.noise
    groups = "one input set" if n.groups == 1 else f"{n.groups} input sets"
    text = (
        f"{m.metric}: {NOISE_LABEL}: sd {fmt.number(n.sd)}, largest range {fmt.number(n.spread)} "
        f"over {n.reruns} reruns of {groups}"
    )
    if delta is not None:
        text += f"; this PR's Δ is {fmt.signed(delta)}"
    return text


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"


def draw(history: Any, out_dir: Path, plots_dir: str, images: list[Path], notes: list[str]) -> None:
    """One small-multiples PNG per model: main's recent values of each goal metric, base and head."""
    from mlci.report import history_plots
    from mlci.store import atomicio

    if history is None:
        return
    models = list(dict.fromkeys(m.model for m in history.metrics))
    for model in models:
        panels = [
            (m.metric, [v for _c, v in m.values], m.base_value, m.head_value)
            for m in history.metrics
            if m.model == model and m.values
        ]
        if not panels:
            continue
        rel = f"{plots_dir}/history-{_slug(model)}.png"
        try:
            atomicio.write_bytes(out_dir / rel, history_plots.pr_trends(panels))
        except Exception as exc:  # noqa: BLE001 - one bad plot must not sink the report
            notes.append(f"model '{model}': history plot skipped ({type(exc).__name__}: {exc})")
            continue
        images.append(out_dir / rel)
        history.plots[model] = rel


def section(ctx: Any) -> str | None:
    history = getattr(ctx, "history", None)
    if history is None or (not history.metrics and history.note is None):
        return None
    ref = history.ref
    lines = [f"## History of {md.text(ref)}", ""]
    if not history.metrics:
        lines.append(md.text(history.note or f"no goal metric of this project was recorded on {ref}"))
        return "\n".join(lines) + "\n"
    multi = len({m.model for m in history.metrics}) > 1
    runs = max(len(m.values) for m in history.metrics)
    lines.append(
        f"Where base and head fall among {md.text(_runs(ref, runs))} (its recorded first-parent commits), "
        "per goal metric:"
    )
    lines.append("")
    for m in history.metrics:
        name = (f"{m.model}: " if multi else "") + m.metric
        lines.append(f"- **{md.text(name, keep_code=False)}**: {md.text(sentence(m, ref))}")
    for model, rel in history.plots.items():
        title = f"{ref}'s last runs (dots), base (dashed) and head (star)" + (f": {model}" if multi else "")
        lines += ["", f"![{md.text(title)}]({rel})"]
    noisy = [m for m in history.metrics if not m.tested]
    if noisy:
        lines.append("")
        shown = []
        for m in noisy:
            if m.noise is not None:
                delta = m.head_value - m.base_value if m.head_value is not None and m.base_value is not None else None
                shown.append(md.text(noise_line(m, delta)))
        missing = [m.metric for m in noisy if m.noise is None]
        if missing:
            shown.append(
                md.text(
                    f"{', '.join(missing)}: no {NOISE_LABEL.split(' (')[0]}: {ref} has no reruns with unchanged inputs "
                    "(`mlci run --force` on an unchanged main commit records one)"
                )
            )
        lines.append("<sub>" + "<br>".join(shown) + "</sub>")
    return "\n".join(lines) + "\n"


def to_json(ctx: Any) -> dict[str, Any] | None:
    """report.json `history`: each goal metric's recent values on the base branch, `[{commit, value}]`
    oldest first, keyed `metric` (or `model/metric` with several models); `history_context` has the rest."""
    history = getattr(ctx, "history", None)
    if history is None:
        return None
    multi = len({m.model for m in history.metrics}) > 1
    return {(f"{m.model}/{m.metric}" if multi else m.metric): m.to_dict()["values"] for m in history.metrics}


def context_json(ctx: Any) -> dict[str, Any] | None:
    history = getattr(ctx, "history", None)
    if history is None:
        return None
    return {
        "ref": history.ref,
        "last": history.last,
        "note": history.note,
        "metrics": [{**m.to_dict(), "sentence": sentence(m, history.ref)} for m in history.metrics],
        "plots": dict(history.plots),
    }
