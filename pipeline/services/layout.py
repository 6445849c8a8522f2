"""Where the local services' recipes, jars and data live."""

from __future__ import annotations

import os
from pathlib import Path

from schemas.settings import LocalServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_LOCAL = REPO_ROOT / "deploy" / "local"


def cache_root(settings: LocalServiceSettings) -> Path:
    """Downloaded jars: settings, else $XDG_CACHE_HOME/restguard, else ~/.cache/restguard."""
    if settings.cache_dir is not None:
        return settings.cache_dir.resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "restguard"
