"""The suite's own fixtures write nothing into the working copy."""

from __future__ import annotations

from pathlib import Path

import hypothesis.configuration

WORKING_COPY = Path(__file__).resolve().parents[1]


def test_the_engines_messages_in_tests_go_to_the_tests_own_folder(services, tmp_path):
    # The notifier's outbox (no SMTP host) is where a test's notify actions write.
    assert services.channel.folder.parent == tmp_path


def test_hypothesis_keeps_its_files_outside_the_working_copy():
    home = Path(hypothesis.configuration.storage_directory().path).resolve()
    assert WORKING_COPY not in home.parents
