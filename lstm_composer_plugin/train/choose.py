"""Which epoch to ship, and when to stop: judgements on metric series, no TensorFlow.

The seed picked its epoch by eye: "150 epochs, when the graphs first reach their
limits; later models copy the source". Here the same judgement is a rule over
the checkpoints' figures (validation loss and the scorecard):

    of the checkpoints that
      * are past collapse     (their samples are not one event repeated, and vary enough),
      * do not copy           (8-gram share and longest verbatim run under the limits),
      * are healthy           (validation loss finite, not risen above its minimum so far),
      * have reached the floor (validation loss within a small part of its total fall),
    the one with the lowest (smoothed) validation loss.

The limits come from the validation pieces (``Thresholds.from_baseline``): how
much a *new* piece of the style naturally shares with the training pieces, how
long its runs are, how many distinct events it uses. A model is "copying" when it
shares clearly more than that, and "collapsed" when it varies clearly less.

``detect_fault`` is the other judgement: a NaN, an exploding loss, or accuracy
falling off a cliff (the seed's "suddenly goes crazy") stops the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Thresholds:
    min_distinct: float = 10.0  # distinct events per 100 (median over the samples)
    max_run: int = 16  # longest run of one event (median over the samples)
    max_copy_share: float = 0.3  # share of generated 8-grams found in the training pieces (mean)
    max_copy_run: int = 24  # longest verbatim run from one training piece (median)
    rise_tol: float = 0.02  # validation loss this far (relative) above its minimum so far: rising
    floor_frac: float = 0.1  # "reached the floor": within this part of the total fall of the loss
    smooth: int = 5  # epochs averaged (centred) before comparing validation losses

    @classmethod
    def from_baseline(cls, baseline: dict[str, Any] | None, **overrides: Any) -> Thresholds:
        """Limits relative to what real pieces of the style do (the scorecard of validation windows).

        A generated piece may share as much with the training set as a real new piece
        does, plus a margin; it should vary at least half as much as real pieces and
        repeat one event no more than a few times as long as they do.
        """
        t = cls()
        if baseline:
            t.min_distinct = round(0.5 * float(baseline["distinct_per_100"]), 2)
            t.max_run = int(max(8, 3 * float(baseline["longest_run"])))
            t.max_copy_share = round(min(0.9, max(0.2, float(baseline["ngram_share"]) + 0.2)), 3)
            t.max_copy_run = int(max(16, 2 * float(baseline["copy_run"])))
        for k, v in overrides.items():
            setattr(t, k, v)
        return t

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Thresholds:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Verdict:
    """What the rules say about one checkpoint."""

    epoch: int
    collapsed: bool
    copying: bool
    val: str  # "ok", "rising", "diverged", "falling" (not yet at its floor)
    ok: bool  # all four rules pass
    measure: str = "validation loss"  # or "training loss" when the run has no validation pieces

    def words(self) -> str:
        parts = []
        if self.collapsed:
            parts.append("collapsed")
        if self.copying:
            parts.append("copying")
        if self.val != "ok":
            parts.append(f"{self.measure} {self.val}")
        return ", ".join(parts) or "ok"


@dataclass
class Choice:
    epoch: int | None
    reason: str
    auto: bool = True
    verdicts: list[Verdict] = field(default_factory=list)
    measure: str = "validation loss"  # the loss series the choice judged

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "reason": self.reason,
            "auto": self.auto,
            "measure": self.measure,
            "verdicts": [asdict(v) for v in self.verdicts],
        }


# -- validation-loss series -------------------------------------------------------


def smoothed(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average (shrinking at the ends); non-finite values stay non-finite."""
    out = []
    half = max(window, 1) // 2
    for i in range(len(values)):
        seg = values[max(0, i - half) : i + half + 1]
        out.append(sum(seg) / len(seg) if all(math.isfinite(v) for v in seg) else math.inf)
    return out


def val_state(val_loss: Sequence[float], epoch: int, t: Thresholds) -> str:
    """The validation loss at ``epoch`` (1-based): ok, rising, diverged or still falling."""
    upto = list(val_loss[:epoch])
    if not upto or not all(math.isfinite(v) for v in upto):
        return "diverged"
    s = smoothed(list(val_loss), t.smooth)
    here, best_so_far = s[epoch - 1], min(s[:epoch])
    if here > best_so_far + t.rise_tol * abs(best_so_far):
        return "rising"
    finite = [v for v in s if math.isfinite(v)]
    floor, start = min(finite), s[0]
    fall = start - floor
    if fall > 0 and here > floor + t.floor_frac * fall:
        # Off the floor: before the minimum the loss is still falling, after it has risen.
        return "rising" if epoch - 1 > s.index(floor) else "falling"
    return "ok"


# -- the choice ---------------------------------------------------------------------


def judge(val_loss: Sequence[float], checkpoints: Sequence[dict[str, Any]], t: Thresholds,
          measure: str = "validation loss") -> list[Verdict]:
    """One verdict per checkpoint; ``checkpoints`` hold ``epoch`` and the scorecard ``summary``."""
    verdicts = []
    for cp in checkpoints:
        s = cp["summary"]
        # Judged on the sampled pieces, which is how the composer plays. The argmax continuation is
        # reported but not judged: greedy decoding loops on a repeated note in any style full of
        # them (chinese_folk: runs of 142-200 of 200 at 27 of 30 checkpoints, whose sampled pieces
        # repeat no more than real songs do), so it vetoed the best checkpoints for no audible reason.
        collapsed = s["distinct_per_100"] < t.min_distinct or s["longest_run"] > t.max_run
        copying = s["ngram_share"] > t.max_copy_share or s["copy_run"] > t.max_copy_run
        val = val_state(val_loss, int(cp["epoch"]), t)
        ok = not collapsed and not copying and val == "ok"
        verdicts.append(Verdict(int(cp["epoch"]), collapsed, copying, val, ok, measure))
    return verdicts


def choose_epoch(val_loss: Sequence[float], checkpoints: Sequence[dict[str, Any]], t: Thresholds,
                 measure: str = "validation loss") -> Choice:
    """The recommended checkpoint and a sentence saying why (see the module docstring).

    ``measure`` names the series: a run without validation pieces is judged on its training
    loss, and its reasons say so (a training loss never rises with overfitting, so the choice
    then rests on the copy and collapse limits).
    """
    if not checkpoints:
        return Choice(None, "no checkpoint was written", measure=measure)
    verdicts = judge(val_loss, checkpoints, t, measure)
    m = measure
    by_epoch = {int(cp["epoch"]): cp["summary"] for cp in checkpoints}
    s = smoothed(list(val_loss), t.smooth)

    def figures(epoch: int) -> str:
        f = by_epoch[epoch]
        return (
            f"smoothed {m} {s[epoch - 1]:.3f}, longest run {f['longest_run']:g}, "
            f"{f['distinct_per_100']:.0f} distinct events per 100, "
            f"8-gram share {f['ngram_share']:.2f}, longest verbatim run {f['copy_run']:g}"
        )

    passing = [v for v in verdicts if v.ok]
    if passing:
        # Early stopping's rule among the checkpoints that pass: the one that predicts unseen
        # pieces of the style best. The copy limits already keep memorisation out, so there is
        # no reason to prefer an earlier, worse-predicting checkpoint (irish: epoch 10 at 3.17
        # nats against epoch 15 at 3.03, a 14 % higher perplexity; both copy less than real tunes do).
        v = min(passing, key=lambda w: (s[w.epoch - 1], w.epoch))
        later = [w for w in verdicts if w.epoch > v.epoch]
        notes = []
        copying = next((w.epoch for w in later if w.copying), None)
        rising = next((w.epoch for w in later if w.val in ("rising", "diverged")), None)
        if rising is not None:
            notes.append(f"{m} rising from epoch {rising}")
        if copying is not None:
            notes.append(f"copying from epoch {copying}")
        tail = f"; later checkpoints: {', '.join(notes)}" if notes else ""
        return Choice(
            v.epoch,
            f"lowest {m} among checkpoints past collapse, not copying, at the loss floor "
            f"({figures(v.epoch)}){tail}",
            verdicts=verdicts, measure=m,
        )

    # Nothing passes every rule: relax them one at a time, keeping the most important.
    def best_val(cands: list[Verdict]) -> Verdict:
        return min(cands, key=lambda w: (s[w.epoch - 1], w.epoch))

    healthy = [v for v in verdicts if v.val != "diverged"]
    fallbacks = [
        ([v for v in healthy if not v.collapsed and not v.copying],
         f"lowest {m} among checkpoints that neither collapse nor copy"),
        ([v for v in healthy if not v.copying], f"lowest {m} among checkpoints that do not copy (all of them collapse)"),
    ]
    for cands, why in fallbacks:
        if cands:
            v = best_val(cands)
            return Choice(v.epoch, f"no checkpoint passed every rule; {why} ({figures(v.epoch)})", verdicts=verdicts,
                          measure=m)
    if healthy:
        v = min(healthy, key=lambda w: (by_epoch[w.epoch]["ngram_share"], w.epoch))
        return Choice(v.epoch, f"every checkpoint copies; this one copies least ({figures(v.epoch)})",
                      verdicts=verdicts, measure=m)
    v = verdicts[0]
    return Choice(v.epoch, f"every checkpoint's {m} diverged; the first checkpoint is kept", verdicts=verdicts,
                  measure=m)


def user_choice(epoch: int, auto: Choice, why: str | None = None) -> Choice:
    """``--epoch N``: the user's pick (``why``: how it was made), remembering what the rules would have chosen."""
    return Choice(
        epoch,
        f"{why or f'chosen by the user (--epoch {epoch})'}; the automatic choice was epoch {auto.epoch}: {auto.reason}",
        auto=False,
        verdicts=auto.verdicts,
        measure=auto.measure,
    )


# -- faults ---------------------------------------------------------------------------


@dataclass
class FaultRules:
    explode_factor: float = 2.0  # loss above this multiple of its best so far ...
    explode_margin: float = 0.5  # ... and this many nats above it
    cliff_factor: float = 0.5  # training accuracy below this multiple of its best so far ...
    cliff_margin: float = 0.1  # ... and this far below it in absolute terms


def detect_fault(history: dict[str, Sequence[float]], rules: FaultRules | None = None) -> str | None:
    """A sentence if the last epoch broke the run (NaN, exploding loss, accuracy cliff), else None."""
    rules = rules or FaultRules()
    loss = list(history.get("loss", []))
    if not loss:
        return None
    epoch = len(loss)
    for key in ("loss", "val_loss"):
        series = history.get(key) or []
        if len(series) == epoch and not math.isfinite(series[-1]):
            return f"{key.replace('_', ' ')} became {series[-1]} at epoch {epoch}"
    if epoch >= 2:
        best = min(loss[:-1])
        if loss[-1] > rules.explode_factor * best and loss[-1] > best + rules.explode_margin:
            return f"loss exploded at epoch {epoch}: {loss[-1]:.3g} after a best of {best:.3g}"
        acc = list(history.get("accuracy", []))
        if len(acc) == epoch:
            top = max(acc[:-1])
            if acc[-1] < rules.cliff_factor * top and acc[-1] < top - rules.cliff_margin:
                return f"accuracy fell off a cliff at epoch {epoch}: {acc[-1]:.3f} after {top:.3f}"
    return None
