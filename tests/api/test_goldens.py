"""The golden-file helper: it compares, rewrites only on request, and never rewrites under CI."""

import json

import pytest

from tests.api.goldens import GoldenUpdateRefused, check_golden


@pytest.fixture
def golden(tmp_path):
    path = tmp_path / "shape.json"
    path.write_text(json.dumps({"status": "old"}, indent=2) + "\n")
    return path


def test_a_difference_fails_the_comparison(golden, monkeypatch):
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    with pytest.raises(AssertionError):
        check_golden("shape.json", {"status": "new"}, directory=golden.parent)
    assert json.loads(golden.read_text()) == {"status": "old"}


def test_update_mode_rewrites_the_file_outside_ci(golden, monkeypatch):
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    monkeypatch.delenv("CI", raising=False)
    check_golden("shape.json", {"status": "new"}, directory=golden.parent)
    assert golden.read_text() == '{\n  "status": "new"\n}\n'


@pytest.mark.parametrize("ci", ["true", "1"])
def test_update_mode_refuses_to_run_under_ci_and_leaves_the_file_alone(golden, monkeypatch, ci):
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(GoldenUpdateRefused, match=f"UPDATE_GOLDEN is set under CI='{ci}'"):
        check_golden("shape.json", {"status": "new"}, directory=golden.parent)
    assert json.loads(golden.read_text()) == {"status": "old"}
