"""A served copy of the session's small model, shared by the server tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deepfit import Regressor
from deepfit.serve import ServerSettings, create_app


@pytest.fixture(scope="session")
def app(fitted: Regressor) -> FastAPI:
    return create_app(fitted, ServerSettings(max_body_bytes=200_000, max_rows=500))


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)
