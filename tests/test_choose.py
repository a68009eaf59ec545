"""The automatic epoch choice and the fault rules, on synthetic metric series (no TensorFlow)."""

from __future__ import annotations

import math

import pytest

from lstm_composer_plugin.train.choose import (
    FaultRules,
    Thresholds,
    choose_epoch,
    detect_fault,
    judge,
    smoothed,
    user_choice,
    val_state,
)

T = Thresholds(min_distinct=20, max_run=12, max_copy_share=0.3, max_copy_run=24)


def val_curve(epochs: int = 300, floor_at: int = 100, rise_from: int = 180) -> list[float]:
    """Falls from 5 to a floor of 2 by ``floor_at``, flat, then rises (overfitting)."""
    out = []
    for e in range(1, epochs + 1):
        v = 2.0 + 3.0 * math.exp(-3 * e / floor_at)
        if e > rise_from:
            v += 0.01 * (e - rise_from)
        out.append(v)
    return out


def card(epoch: int, run: float = 3, distinct: float = 60, share: float = 0.05, copy: float = 6) -> dict:
    return {"epoch": epoch, "summary": {"longest_run": run, "distinct_per_100": distinct,
                                        "ngram_share": share, "copy_run": copy}}


def test_smoothed_is_centred_and_keeps_non_finite():
    assert smoothed([1, 2, 3, 4, 5], 3) == [1.5, 2, 3, 4, 4.5]
    assert smoothed([1, math.nan, 3], 1)[1] == math.inf


def test_val_state():
    v = val_curve()
    assert val_state(v, 10, T) == "falling"
    assert val_state(v, 150, T) == "ok"
    assert val_state(v, 250, T) == "rising"
    assert val_state([3.0, math.nan, 2.0], 3, T) == "diverged"


def test_choice_is_the_best_validation_loss_past_collapse_without_copying():
    v = val_curve()
    cps = [card(25, run=40, distinct=4)]  # collapsed: one event over and over
    cps += [card(e) for e in (50, 75)]  # still learning: loss above its floor
    cps += [card(100, share=0.45, copy=60)]  # at the floor but copying
    cps += [card(e) for e in (125, 150, 175)]
    cps += [card(e, share=0.8, copy=150) for e in (200, 225, 250, 275, 300)]
    choice = choose_epoch(v, cps, T)
    assert choice.epoch == 175  # 125, 150 and 175 pass; the loss is still easing down to 175
    assert "past collapse" in choice.reason and "copying" in choice.reason
    verdicts = {x.epoch: x for x in choice.verdicts}
    assert verdicts[25].collapsed and not verdicts[25].ok
    assert verdicts[50].val == "falling"
    assert verdicts[100].copying
    assert verdicts[250].copying and verdicts[250].val == "rising"
    assert all(verdicts[e].ok for e in (125, 150, 175))
    # A later checkpoint that passes but predicts worse is not preferred to an earlier one.
    bumpy = list(v)
    bumpy[170:180] = [x + 0.03 for x in bumpy[170:180]]
    assert choose_epoch(bumpy, cps, T).epoch == 150


def test_choice_skips_diverged_and_rising_loss():
    v = val_curve(epochs=100, floor_at=20, rise_from=40)
    v[60:] = [math.nan] * 40  # the run blew up
    cps = [card(e) for e in (20, 40, 60, 80)]
    choice = choose_epoch(v, cps, T)
    assert choice.epoch == 40  # at the bottom; 60 has risen and 80 is NaN
    verdicts = {x.epoch: x.val for x in judge(v, cps, T)}
    assert verdicts == {20: "ok", 40: "ok", 60: "rising", 80: "diverged"}


def test_fallbacks_when_no_checkpoint_passes():
    v = val_curve(epochs=100, floor_at=50, rise_from=90)
    # Every checkpoint copies: the least copying one is kept, and the reason says so.
    cps = [card(e, share=s, copy=100) for e, s in ((25, 0.9), (50, 0.5), (75, 0.7), (100, 0.95))]
    choice = choose_epoch(v, cps, T)
    assert choice.epoch == 50 and "copies least" in choice.reason
    # Fine samples but the loss never reaches its floor at a checkpoint: lowest validation loss wins.
    cps = [card(e) for e in (10, 20)]
    choice = choose_epoch(v[:30], cps, Thresholds(floor_frac=0.0))
    assert choice.epoch == 20 and "no checkpoint passed every rule" in choice.reason
    assert choose_epoch(v, [], T).epoch is None


def test_user_choice_keeps_the_automatic_one_in_its_reason():
    auto = choose_epoch(val_curve(), [card(125)], T)
    mine = user_choice(200, auto)
    assert mine.epoch == 200 and not mine.auto
    assert "--epoch 200" in mine.reason and f"epoch {auto.epoch}" in mine.reason


def test_thresholds_follow_the_real_pieces():
    t = Thresholds.from_baseline({"distinct_per_100": 70, "longest_run": 2, "ngram_share": 0.25, "copy_run": 11})
    assert t.min_distinct == 35 and t.max_run == 8
    assert t.max_copy_share == pytest.approx(0.45) and t.max_copy_run == 22
    assert Thresholds.from_dict(t.to_dict()) == t
    assert Thresholds.from_baseline({}) == Thresholds()


@pytest.mark.parametrize(
    ("history", "expect"),
    [
        ({"loss": [5.0, 4.0, 3.5], "accuracy": [0.1, 0.2, 0.25]}, None),
        ({"loss": [5.0, 4.0, math.nan], "accuracy": [0.1, 0.2, 0.0]}, "loss became nan"),
        ({"loss": [5.0, 4.0], "val_loss": [5.0, math.inf], "accuracy": [0.1, 0.2]}, "val loss became inf"),
        ({"loss": [5.0, 2.0, 9.0], "accuracy": [0.1, 0.5, 0.45]}, "loss exploded"),
        ({"loss": [5.0, 2.0, 2.1], "accuracy": [0.1, 0.6, 0.1]}, "accuracy fell off a cliff"),
        ({"loss": [0.05, 0.04, 0.09], "accuracy": [0.98, 0.99, 0.97]}, None),  # noise near zero is not a blow-up
    ],
)
def test_detect_fault(history, expect):
    found = detect_fault(history, FaultRules())
    if expect is None:
        assert found is None
    else:
        assert found is not None and expect in found


def test_an_argmax_loop_alone_is_not_collapse():
    """Greedy decoding loops on repeated notes; the sampled pieces are what the composer plays."""
    v = val_curve(epochs=100, floor_at=10, rise_from=90)
    cps = [card(e) for e in (25, 50)]
    cps[0]["summary"]["greedy_longest_run"] = 150  # one event over and over under argmax
    cps[1]["summary"]["greedy_longest_run"] = 4
    choice = choose_epoch(v, cps, T)
    assert not choice.verdicts[0].collapsed and choice.verdicts[0].ok
    assert choice.epoch == 50  # the lower validation loss, argmax loop or not
    cps[1]["summary"]["longest_run"] = 40  # the sampled pieces collapse: that counts
    assert choose_epoch(v, cps, T).epoch == 25
