"""Fixtures of the pacing tests."""

from __future__ import annotations

import pytest

from pacing import CampaignEstimators, CustomerModel
from tests.pacing.helpers import trained_estimators


@pytest.fixture(scope="session")
def customers() -> CustomerModel:
    """The default customer model."""
    return CustomerModel()


@pytest.fixture(scope="session")
def estimators_data(customers: CustomerModel) -> CampaignEstimators:
    """Estimators trained on the default customers (do not mutate)."""
    return trained_estimators(customers)
