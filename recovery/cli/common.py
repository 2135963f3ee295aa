"""What every command group shares: the console and settings with logging configured."""

from __future__ import annotations

import getpass

from rich.console import Console

from recovery.runtime.logs import configure_logging
from recovery.runtime.settings import Settings

console = Console()


def load_settings() -> Settings:
    """Settings from the environment, with logging configured as they say."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def cli_actor() -> str:
    """Who the audit trail says made a change from the command line."""
    return f"cli:{getpass.getuser()}"
