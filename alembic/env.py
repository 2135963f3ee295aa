"""Alembic environment: runs migrations against ``models``' metadata.

The URL comes from the ``sqlalchemy.url`` main option when a caller sets it (``recovery migrate``
and the tests do), otherwise from the engine's settings.
"""

from logging.config import fileConfig

import models
from alembic import context
from recovery.runtime.db import make_engine
from recovery.runtime.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = models.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), pool_size=1)
    with engine.connect() as connection:
        # Batch mode lets ALTERs work on SQLite, which cannot alter most constraints in place.
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
