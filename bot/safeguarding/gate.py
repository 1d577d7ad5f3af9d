"""The safeguarding gate: the lexicon (bot.safeguarding.detector) and the learned danger model
(bot.safeguarding.head, read by the NLU model) combined into one of three tiers.

- With the model's reading:
  - a lexicon signal, and P(danger) at least at `lexicon_at`: full guidance for the lexicon's kinds;
  - a lexicon signal the model doubts (below `lexicon_at`): ask first;
  - no lexicon signal: full guidance from `full_at`, the check from `check_at`, else calm. The kind is
    the model's when it is sure enough (`kind_at`), else the general guidance, which covers every kind;
  - a long message the model reads as calm whose most alarming sentence, read alone, reaches `part_at`:
    ask first (a danger told in one clause of a message about something else).
- Without a reading (the model still loading, a text the model is not asked about, a model trained
  before the danger head): the lexicon alone, which answers at once. A message the model cannot wait for
  must not wait: a lexicon signal gets the full guidance.
- A message mostly in a script the bot cannot read gets the general guidance (bot.safeguarding.detector
  explains why), whatever the model says of it: its reading is noise.
"""

from __future__ import annotations

from bot.safeguarding import DangerAssessment, DangerReading, Tier
from bot.safeguarding.detector import DangerDetector, default_detector, is_unreadable


class DangerGate:
    """The SafeguardingGate of the bot."""

    def __init__(self, detector: DangerDetector | None = None) -> None:
        self._detector = detector or default_detector()

    @property
    def detector(self) -> DangerDetector:
        return self._detector

    def assess(self, text: str, reading: DangerReading | None) -> DangerAssessment:
        lexicon = frozenset(self._detector.kinds(text))
        if is_unreadable(text) and not lexicon:
            return DangerAssessment(Tier.FULL, because="unreadable")
        if reading is None:
            return DangerAssessment(Tier.FULL, lexicon, "lexicon") if lexicon else DangerAssessment()
        if lexicon:
            if reading.probability >= reading.lexicon_at:
                return DangerAssessment(Tier.FULL, lexicon, "lexicon and model")
            return DangerAssessment(Tier.CHECK, lexicon, "lexicon, model doubts")
        kind = reading.named_kind()
        kinds = frozenset({kind}) if kind else frozenset()
        if reading.probability >= reading.full_at:
            return DangerAssessment(Tier.FULL, kinds, "model")
        if reading.probability >= reading.check_at:
            return DangerAssessment(Tier.CHECK, kinds, "model unsure")
        if reading.part_probability >= reading.part_at:
            return DangerAssessment(Tier.CHECK, because="one sentence of it")
        return DangerAssessment()
