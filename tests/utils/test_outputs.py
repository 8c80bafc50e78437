"""The output-directory guard, checked before any work."""

import pytest

from fmood.errors import OutputConflictError
from fmood.utils.atomic import OUTPUTS_LEDGER, staged_directory
from fmood.utils.outputs import check_out_dir


def test_a_new_an_empty_or_an_earlier_output_directory_is_accepted(tmp_path):
    assert check_out_dir(str(tmp_path / "new")) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert check_out_dir(tmp_path / "empty") == tmp_path / "empty"
    with staged_directory(tmp_path / "earlier") as staging:
        (staging / "result.csv").write_text("x")
    assert check_out_dir(tmp_path / "earlier") == tmp_path / "earlier"


def test_a_file_or_a_folder_holding_the_users_files_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputConflictError, match="is not a directory fmood wrote"):
        check_out_dir(tmp_path / "file")
    with staged_directory(tmp_path / "earlier") as staging:
        (staging / "result.csv").write_text("x")
    (tmp_path / "earlier" / "notes.txt").write_text("mine")
    with pytest.raises(OutputConflictError, match="notes.txt"):
        check_out_dir(tmp_path / "earlier")
    assert (tmp_path / "earlier" / OUTPUTS_LEDGER).exists()  # nothing was touched
