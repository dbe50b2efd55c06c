"""The report's "Feature attributions" section, its summary line and its bar plot.

Base and head side by side: the top features by mean |SHAP| over the evaluation rows, with
each head feature's rank change. A feature of either top list whose rank moved by 3 or more
is named in the summary, under the verdict. Feature names are data: escaped like all else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlci.report import format as fmt
from mlci.report import markdown as md

_METHOD = {
    "lightgbm pred_contrib": "LightGBM's own TreeSHAP (`pred_contrib`)",
    "shap TreeExplainer": "shap's TreeExplainer",
    "pipeline file": "the pipeline's attribution file",
}


def _shown_moves(e: Any) -> list[Any]:
    """Moves of features in either side's top list (a shuffle far down the ranking is not news)."""
    return [m for m in e.moves() if m.base <= e.top or m.head <= e.top]


def _arrow(m: Any) -> str:
    return f"▲{m.by}" if m.by > 0 else f"▼{-m.by}"


def summary_line(ctx: Any) -> str:
    """`**Feature attributions moved:** f03 5 → 1 (▲4), …` or "" when no top feature moved by 3 or more."""
    found = getattr(ctx, "explanations", None) or []
    parts = []
    multi = len(found) > 1
    for e in found:
        moves = _shown_moves(e)
        if not moves:
            continue
        shown = ", ".join(f"{md.code(m.feature)} {m.base} → {m.head} ({_arrow(m)})" for m in moves[:6])
        more = f" and {len(moves) - 6} more" if len(moves) > 6 else ""
        parts.append((f"{md.code(e.model)}: " if multi else "") + shown + more)
    if not parts:
        return ""
    what = md.text("(rank by mean |SHAP|, 3 or more places)")
    return f"\n**Feature attributions moved** {what}: " + "; ".join(parts) + "\n"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"


def draw(found: list[Any], out_dir: Path, plots_dir: str, images: list[Path], notes: list[str]) -> None:
    from mlci.report import history_plots
    from mlci.store import atomicio

    for e in found:
        if e.head is None:
            continue
        rel = f"{plots_dir}/attributions-{_slug(e.model)}.png"
        try:
            png = history_plots.attributions(
                e.base.features if e.base else None, e.head.features, top=e.top, title="Feature attributions"
            )
            atomicio.write_bytes(out_dir / rel, png)
        except Exception as exc:  # noqa: BLE001 - one bad plot must not sink the report
            notes.append(f"model '{e.model}': attribution plot skipped ({type(exc).__name__}: {exc})")
            continue
        images.append(out_dir / rel)
        e.plot = rel


def _change(feature: str, head_rank: int, base_ranks: dict[str, int] | None) -> str:
    if base_ranks is None:
        return "—"
    was = base_ranks.get(feature)
    if was is None:
        return "new"
    if was == head_rank:
        return "="
    by = was - head_rank
    text = f"▲{by}" if by > 0 else f"▼{-by}"
    return f"**{text}** (was {was})" if abs(by) >= 3 else f"{text} (was {was})"


def _model(e: Any, multi: bool) -> list[str]:
    lines = [f"### {md.code(e.model)}", ""] if multi else []
    if e.head is None and e.base is None:
        lines.append("No attributions: see the notes below.")
    else:
        side = e.head or e.base
        rows_text = f" over {side.rows:,} evaluation rows" if side.rows else ""
        value = "attribution" if side.method == "pipeline file" else "mean |SHAP|"
        lines += [
            md.text(f"Top {e.top} features by {value}{rows_text}, from ")
            + _METHOD.get(side.method, md.text(side.method))
            + ". Base on the left, head on the right; the change is the head feature's rank move.",
            "",
        ]
        base = e.base.features[: e.top] if e.base else []
        head = e.head.features[: e.top] if e.head else []
        base_ranks = e.base.rank() if e.base else None
        rows = []
        for i in range(max(len(base), len(head))):
            b = base[i] if i < len(base) else None
            h = head[i] if i < len(head) else None
            rows.append(
                [
                    str(i + 1),
                    md.code(b[0]) if b else "—",
                    fmt.number(b[1]) if b else "—",
                    md.code(h[0]) if h else "—",
                    fmt.number(h[1]) if h else "—",
                    _change(h[0], i + 1, base_ranks) if h else "—",
                ]
            )
        lines += md.table(["rank", "base", value, "head", value, "change"], "rlrlrl", rows)
        if e.plot:
            lines += ["", f"![Feature attributions, base vs head]({e.plot})"]
    for note in e.notes:
        lines += ["", f"> **Note:** {md.text(note)}"]
    return lines


def section(ctx: Any) -> str | None:
    found = getattr(ctx, "explanations", None)
    if not found:
        return None
    lines = ["## Feature attributions", ""]
    for e in found:
        lines += [*_model(e, len(found) > 1), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def to_json(ctx: Any) -> dict[str, Any] | None:
    """report.json `explanations`: per model `{"base": [{feature, value}], "head": [...], ...}`, largest first."""
    found = getattr(ctx, "explanations", None)
    if not found:
        return None
    return {e.model: e.to_dict() for e in found}
