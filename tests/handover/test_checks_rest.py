"""The second half of the broken accounts (test_checks.py has the first), so that two test
workers share them."""

from __future__ import annotations

import pytest

from tests.handover.conftest import Account
from tests.handover.test_checks import BROKEN, check_broken


@pytest.mark.parametrize("check_id", sorted(BROKEN)[15:])
def test_breaking_one_thing_fails_exactly_its_check(account: Account, check_id: str) -> None:
    check_broken(account, check_id)
