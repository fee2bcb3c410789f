"""The data folder the user chose in the settings, and who wins over it."""

import os

from arcus_desktop.core import paths


def test_the_chosen_data_folder_is_used_unless_the_environment_says_otherwise(monkeypatch,
                                                                               tmp_path):
    monkeypatch.delenv("ARCUS_DATA_DIR")
    paths.use_data_dir("")  # none chosen: the platform's folder
    assert "ARCUS_DATA_DIR" not in os.environ
    paths.use_data_dir(tmp_path / "mine")
    assert paths.data_dir() == tmp_path / "mine"
    paths.use_data_dir(tmp_path / "other")  # set from outside (a portable install): kept
    assert paths.data_dir() == tmp_path / "mine"
