"""One subject's clinical history: the single fold the recording rules and every read model use.

:mod:`~ledger.subject.corrections` applies corrections and voids (the one place),
:mod:`~ledger.subject.timeline` holds the regimen timeline, :mod:`~ledger.subject.history`
folds a subject's events into a :class:`~ledger.subject.history.SubjectHistory`, and
:mod:`~ledger.subject.evaluation` derives responses, confirmation, progression and the
protocol's decisions from it on corrected values.
"""
