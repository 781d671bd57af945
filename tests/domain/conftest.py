"""Fixtures of the domain tests: a recorder with a fixed clock over a fresh ledger."""

from __future__ import annotations

import pytest

from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from tests.domain.trial_helpers import SUBJECT, TODAY, enrol_subject
from tests.support import Cast


@pytest.fixture
def recorder(ledger: TrialLedger) -> TrialRecorder:
    return TrialRecorder(ledger, clock=lambda: TODAY)


@pytest.fixture
def enrolled(recorder: TrialRecorder, cast: Cast) -> str:
    """SUBJECT screened, consented, eligible, enrolled; induction from START."""
    enrol_subject(recorder, cast)
    return SUBJECT
