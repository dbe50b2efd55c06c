"""What a metric's name says: which direction is better, or that it is a counter, by whole words.

Substrings lie (`answer_accuracy` contains "wer", `uptime` contains "time", `power` contains
"wer"), so a name is split into words — on `_ . - / @ :`, spaces and camelCase — and the words are
looked up in tables of the names ML metrics really use. Phrases come first
(`false_positive_rate` is lower-is-better although "positive" and "rate" say nothing), then
single words from the right, where the measured quantity usually sits (`val_loss`,
`cancer_recall`, `f1_macro`). A name with no known word has no direction: it is shown as
"changed", never judged, and `mlci init` lists it for the user to decide.

Counters (`step`, `epoch`, `n_samples`, DVCLive's `step`) and clocks (`timestamp`, `duration`,
`train_time`) are not quality measures: they are never improved, regressed or gated unless a
goal in mlci.yaml gives them a direction.
"""

from __future__ import annotations

import re
from functools import lru_cache

HIGHER = "higher"
LOWER = "lower"
NONE = "none"  # shown as "changed", never judged

_HIGHER_WORDS = frozenset(
    """
    accuracy acc balanced_accuracy recall precision sensitivity specificity tpr tnr ppv npv
    f1 f2 f05 fbeta fscore f1score dice jaccard iou miou
    auc roc rocauc auroc auprc aupr ap map mrr ndcg hit hits hitrate top1 top3 top5 top10
    bleu sacrebleu rouge rouge1 rouge2 rougel rougelsum meteor chrf bertscore cider spice
    r2 rsquared explained_variance pearson spearman kendall corr correlation
    kappa mcc matthews ssim psnr
    uptime availability throughput qps fps reward return lift gain coverage recovery
    silhouette
    """.split()
)
_LOWER_WORDS = frozenset(
    """
    loss losses error errors err mistakes
    rmse mse mae mape smape rmsle msle mdae medae wape huber quantile_loss pinball
    wer cer ter per perplexity ppl nll logloss xent crossentropy bce
    latency fpr fnr fdr eer brier ece mce hamming
    drift psi regret cost miss misses divergence kl kld
    """.split()
)
# Multi-word names whose words alone would mislead (or say nothing); joined with "_".
_PHRASES = {
    "false_positive_rate": LOWER,
    "false_negative_rate": LOWER,
    "false_discovery_rate": LOWER,
    "false_alarm_rate": LOWER,
    "miss_rate": LOWER,
    "error_rate": LOWER,
    "equal_error_rate": LOWER,
    "true_positive_rate": HIGHER,
    "true_negative_rate": HIGHER,
    "hit_rate": HIGHER,
    "win_rate": HIGHER,
    "success_rate": HIGHER,
    "pass_rate": HIGHER,
    "exact_match": HIGHER,
    "average_precision": HIGHER,
    "mean_average_precision": HIGHER,
    "log_loss": LOWER,
    "cross_entropy": LOWER,
    "explained_variance": HIGHER,
    "r_squared": HIGHER,
    "calibration_error": LOWER,
    "max_error": LOWER,
    "mean_squared_error": LOWER,
    "mean_absolute_error": LOWER,
    "word_error_rate": LOWER,
    "character_error_rate": LOWER,
}
_PHRASE_LENGTHS = sorted({p.count("_") + 1 for p in _PHRASES}, reverse=True)

# Words that make a whole name a counter or a clock wherever they stand last.
_COUNTER_LAST = frozenset(
    """
    step steps global_step epoch epochs iteration iterations iter iters round rounds
    count counts samples rows batches trees
    timestamp timestamps time times datetime date duration durations elapsed seconds secs sec
    minutes mins hours runtime walltime wallclock
    """.split()
)
# A first word that makes the name a count (n_samples, num_trees, nb_rows).
_COUNTER_FIRST = frozenset({"n", "num", "nb", "number", "count", "total"})

_SPLIT = re.compile(r"[\s_.\-/@:\\]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def words(name: str) -> list[str]:
    """`val/F1Score_macro` → ['val', 'f1', 'score', 'macro'] (lowercase, camelCase split)."""
    out: list[str] = []
    for part in _SPLIT.split(str(name)[:512]):
        out += [w.lower() for w in _CAMEL.split(part) if w]
    return out


@lru_cache(maxsize=1 << 16)  # a comparison asks of each name several times; thousands of names
def is_counter(name: str) -> bool:
    """A step/epoch counter, a count (`n_*`, `num_*`) or a clock (`timestamp`, `*_time`); a
    quality word wins (`p95_latency_seconds` is a latency, `n_errors` an error count)."""
    found = words(name)
    if not found or _direction_of(found) is not None:
        return False
    return (
        found[-1] in _COUNTER_LAST
        or "_".join(found[-2:]) == "global_step"
        or (len(found) > 1 and found[0] in _COUNTER_FIRST)
    )


def _direction_of(found: list[str]) -> str | None:
    for length in _PHRASE_LENGTHS:  # phrases first, longest first, rightmost first
        for start in range(len(found) - length, -1, -1):
            phrase = _PHRASES.get("_".join(found[start : start + length]))
            if phrase:
                return phrase
    for word in reversed(found):
        if word in _HIGHER_WORDS:
            return HIGHER
        if word in _LOWER_WORDS:
            return LOWER
    if "score" in found:  # scikit-learn's convention: a bare "score" is better higher
        return HIGHER
    return None


@lru_cache(maxsize=1 << 16)
def direction(name: str) -> str | None:
    """ "higher", "lower", "none" for counters and clocks, or None when the name says nothing."""
    if is_counter(name):
        return NONE
    return _direction_of(words(name))
