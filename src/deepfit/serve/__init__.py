"""Serve a saved model over HTTP: ``deepfit serve model.deepfit``."""

from deepfit.serve.app import ServerSettings, create_app
from deepfit.serve.run import serve

__all__ = ["ServerSettings", "create_app", "serve"]
