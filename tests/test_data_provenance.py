"""Provenance: version, git commit of a checkout, exact config text; never a failure."""

from __future__ import annotations

import hashlib
import json
import subprocess

from rigctl.cli import main
from rigctl.data import provenance as prov_module
from rigctl.data.provenance import git_info
from tests.conftest import ROOT, run_sim


def test_session_records_version_commit_config_text_and_seed(capsys, sim_yaml, tmp_path):
    assert main(["run", str(sim_yaml), "--trials", "2", "--seed", "12", "--quiet", "--data",
                 str(tmp_path)]) == 0
    (folder,) = (tmp_path / "sim-mouse-1").iterdir()
    meta = json.loads((folder / "session.json").read_text())
    prov = meta["provenance"]
    assert prov["rigctl_version"] == meta["rigctl_version"]
    assert meta["seed"] == 12
    cfg = prov["config_file"]
    assert cfg["text"] == sim_yaml.read_text()
    assert cfg["sha256"] == hashlib.sha256(sim_yaml.read_bytes()).hexdigest()
    assert prov["packages"]["numpy"] and prov["python"]
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False).stdout.strip()
        if head:
            assert prov["git"]["commit"] == head and isinstance(prov["git"]["dirty"], bool)


def test_protocol_file_is_recorded_when_separate(make_config, tmp_path):
    cfg = make_config()
    proto = tmp_path / "proto.yaml"
    proto.write_text("name: delayed_alternation\nparameters:\n  n_trials: 2\n")
    _, data, _ = run_sim(cfg, tmp_path / "d", seed=1, protocol=str(proto))
    p = data.metadata["provenance"]["protocol_file"]
    assert p["text"] == proto.read_text()
    assert p["sha256"] == data.metadata["protocol"]["sha256"]


def test_git_missing_or_not_a_checkout_never_fails(tmp_path, monkeypatch):
    assert git_info(tmp_path) is None  # no .git: not a checkout
    (tmp_path / ".git").mkdir()  # a broken repository
    info = git_info(tmp_path)
    assert info is not None and info["commit"] is None and info["error"]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no git at all
    info = git_info(tmp_path)
    assert info == {"commit": None, "dirty": None, "error": info["error"]}
    assert "git unavailable" in info["error"]
    assert prov_module.provenance({"config_source": "/no/such/file"})["config_file"] is None
