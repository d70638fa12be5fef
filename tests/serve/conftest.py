"""A served copy of the session's small model, shared by the server tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from deepfit import Regressor
from deepfit.serve import ServerSettings, create_app
from deepfit.serve.gateway import Gateway


@pytest.fixture(scope="session")
def app(fitted: Regressor) -> Gateway:
    return create_app(fitted, ServerSettings(max_body_bytes=200_000, max_rows=500))


@pytest.fixture
def client(app: Gateway) -> TestClient:
    return TestClient(app)
