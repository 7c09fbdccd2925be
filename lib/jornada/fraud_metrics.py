"""How fraud teams score a detector: ranking quality and what an alert budget buys (pure numpy).

Fraud is rare (1–5 % of orders), so accuracy and even ROC-AUC flatter any detector. What matters
is how good the top of the ranking is, because a team can only investigate so many alerts a day:

* :func:`average_precision` — area under the precision–recall curve, the step-wise sum
  ``Σ (R_n − R_{n−1}) · P_n`` over the distinct score thresholds (scikit-learn's definition; tied
  scores enter together). A random ranking scores the fraud rate, a perfect one 1.0;
* :func:`precision_at_k_per_day` — card-precision@k: each day the k highest-scoring entities
  (orders, or customers — the "cards" — when ``entity`` is given: an entity's score is its highest
  order score that day, it is a fraud if any of its orders that day is) are investigated;
  precision that day = frauds among them / the number investigated (k, or fewer on a day with
  fewer entities), averaged over days; recall = frauds caught / frauds there were, over all days.
  Ties are broken by the given ``order`` (e.g. the order id: earlier first), so a rule's binary
  score gets a definite answer;
* :func:`roc_auc` — only beside them: the chance a random fraud outscores a random legit order
  (ties count half);
* :func:`threshold_for_budget` — the score above which about k alerts a day fire, taken from a
  window whose scores are known (the training weeks), then applied unchanged to later weeks;
  :func:`alert_metrics` — precision, recall and alerts per day of "alert when score ≥ threshold".
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _arrays(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D and of equal length, got {y.shape} "
                         f"and {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN: score every order (or drop the unscored) first")
    return y, s


def average_precision(y_true, score) -> float:
    """Area under the precision–recall curve (NaN without any positive)."""
    y, s = _arrays(y_true, score)
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]   # one point per distinct threshold
    tp = np.cumsum(y)[last_of_tie]
    flagged = (np.arange(y.size) + 1)[last_of_tie]
    precision = tp / flagged
    recall_gain = np.diff(np.r_[0, tp]) / positives
    return float(np.sum(recall_gain * precision))


def roc_auc(y_true, score) -> float:
    """Area under the ROC curve (Mann–Whitney; ties count half). NaN with one class only."""
    y, s = _arrays(y_true, score)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def precision_at_k_per_day(day, y_true, score, k: int, *, entity=None, order=None) -> dict:
    """Card-precision@k: per day, the k highest scores investigated (see the module docstring).

    Returns {"precision_at_k": mean daily precision, "recall_at_k": caught / frauds, "days",
    "investigated", "caught", "frauds", "daily": DataFrame(day, investigated, caught, frauds,
    precision)}.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a whole number of alerts per day (≥ 1), got {k!r}")
    y, s = _arrays(y_true, score)
    df = pd.DataFrame({"day": np.asarray(day), "y": y, "s": s,
                       "order": np.arange(y.size) if order is None else np.asarray(order)})
    if entity is not None:
        df["entity"] = np.asarray(entity)
        df = (df.groupby(["day", "entity"], sort=False)
              .agg(y=("y", "any"), s=("s", "max"), order=("order", "min")).reset_index())
    df = df.sort_values(["day", "s", "order"], ascending=[True, False, True], kind="stable")
    df["rank"] = df.groupby("day", sort=False).cumcount()
    top = df[df["rank"] < k]
    daily = pd.DataFrame({"investigated": top.groupby("day").size(),
                          "caught": top.groupby("day")["y"].sum(),
                          "frauds": df.groupby("day")["y"].sum()}).fillna(0).astype(int)
    daily["precision"] = daily["caught"] / daily["investigated"]
    frauds = int(daily["frauds"].sum())
    return {"precision_at_k": float(daily["precision"].mean()) if len(daily) else float("nan"),
            "recall_at_k": daily["caught"].sum() / frauds if frauds else float("nan"),
            "days": int(len(daily)), "investigated": int(daily["investigated"].sum()),
            "caught": int(daily["caught"].sum()), "frauds": frauds,
            "daily": daily.reset_index(names="day")}


def threshold_for_budget(score, days: int, k: int) -> float:
    """The score threshold at which ``score ≥ threshold`` fires about ``k`` alerts per day.

    ``score``: the scores of a calibration window of ``days`` days. The threshold is the
    (k·days)-th highest score, so at most k·days alerts fire there (fewer when that score is tied
    above the budget's edge — the budget is a ceiling, not a target).
    """
    s = np.sort(np.asarray(score, dtype=float))[::-1]
    budget = int(k) * int(days)
    if budget < 1:
        raise ValueError(f"the budget k·days must be at least 1, got k={k}, days={days}")
    if budget >= s.size:
        return float(s[-1]) if s.size else float("nan")
    edge = s[budget - 1]
    # a tie straddling the edge would overspend: raise the threshold just above the tie
    return float(edge if s[budget] < edge else np.nextafter(edge, np.inf))


def alert_metrics(day, y_true, score, threshold: float) -> dict:
    """precision, recall, alerts, alerts_per_day of "alert when score ≥ threshold"."""
    y, s = _arrays(y_true, score)
    alert = s >= threshold
    days = max(1, len(pd.unique(np.asarray(day))))
    n, tp = int(alert.sum()), int((alert & y).sum())
    return {"alerts": n, "alerts_per_day": n / days,
            "precision": tp / n if n else float("nan"),
            "recall": tp / int(y.sum()) if y.any() else float("nan")}


def summary(day, y_true, score, k: int, threshold: float | None = None, *, entity=None,
            order=None) -> dict:
    """One row of a comparison table: AP, ROC-AUC, precision/recall@k per day, and at threshold."""
    at_k = precision_at_k_per_day(day, y_true, score, k, entity=entity, order=order)
    row = {"average_precision": average_precision(y_true, score),
           "precision_at_k": at_k["precision_at_k"], "recall_at_k": at_k["recall_at_k"],
           "roc_auc": roc_auc(y_true, score)}
    if threshold is not None:
        row.update({f"{key}_at_threshold" if key in ("precision", "recall") else key: value
                    for key, value in alert_metrics(day, y_true, score, threshold).items()})
    return row
