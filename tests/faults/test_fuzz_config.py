"""Fuzzed rig configs and protocol files: never a crash or a hang, always a field-naming line."""

from __future__ import annotations

import contextlib
import copy
import math
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rigctl.cli import main
from tests.conftest import SIM_YAML

BASE = yaml.safe_load(SIM_YAML.read_text())
# FILE: FIELD: reason, or FILE:LINE: reason (a task file's problem at its line)
# (a key that holds a colon is quoted: reward_ports.':')
LINE = re.compile(r"^rigctl: error: ([^:]+: (?:[^:']|'[^']*')*[A-Za-z_](?:[^:']|'[^']*')*"
                  r"|[^:]+:\d+): .+")

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(-5, 50), max_size=4), st.dictionaries(st.text(max_size=5),
                                                                st.integers(), max_size=2),
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


ALL_PATHS = [p for p in paths(BASE) if p]


def mutate(data, path, action, value):
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "unknown" and isinstance(parent, dict):
        parent[f"{last}_typo"] = value
    else:
        parent[last] = value
    return data


def _dump(data) -> str:
    def clean(v):  # YAML cannot spell NaN keys etc.; keep the generated values representable
        if isinstance(v, float) and math.isnan(v):
            return ".nan"
        return v
    return yaml.safe_dump(data, sort_keys=False, default_style=None) if data is not None \
        else ""


def check_output(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert lines, "exit 2 without a message"
        for ln in lines:
            assert LINE.match(ln), ln


@settings(max_examples=700, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(ALL_PATHS), action=st.sampled_from(["set", "delete", "unknown"]),
       value=values, second=st.sampled_from(ALL_PATHS), value2=values)
def test_fuzzed_rig_configs(tmp_path_factory, capsys, path, action, value, second, value2):
    data = mutate(BASE, path, action, value)
    with contextlib.suppress(KeyError, IndexError, TypeError):
        data = mutate(data, second, "set", value2)
    cfg = tmp_path_factory.mktemp("c") / "rig.yaml"
    cfg.write_text(_dump(data))
    code = main(["check", str(cfg)])
    check_output(code, capsys.readouterr().err)


PARAMS = {"n_trials": 3, "delays_s": [1.0], "iti_s": 0.5, "stim_mode": "closed_loop",
          "laser_fraction": 0.5, "reward_ul": 4, "predictor": {"threshold": 0.6}}
PARAM_PATHS = [p for p in paths(PARAMS) if p]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(PARAM_PATHS + [("laser_power_mw",), ("max_consecutive",),
                                           ("laser_pulse_hz",), ("sham_rule",)]),
       action=st.sampled_from(["set", "unknown"]), value=values,
       n=st.integers(0, 10**9))
def test_fuzzed_protocol_files(tmp_path_factory, capsys, path, action, value, n):
    params = copy.deepcopy(PARAMS)
    try:
        params = mutate(params, path, action, value)
    except (KeyError, IndexError, TypeError):
        params[path[0]] = value
    folder = tmp_path_factory.mktemp("p")
    proto = folder / "proto.yaml"
    proto.write_text(_dump({"name": "delayed_alternation", "parameters": params}))
    code = main(["run", str(SIM_YAML), "--protocol", str(proto), "--data", str(folder / "d"),
                 "--subject", f"f{n}", "--quiet", "--no-figure"])
    out = capsys.readouterr()
    if code == 0:
        assert "status: completed" in out.out
    else:
        check_output(code, out.err)
        assert not (folder / "d").exists() or code == 0  # refused before any folder exists


def test_garbage_yaml_files(tmp_path: Path, capsys):
    garbage = ["\x00\x01", "a: [", "- just\n- a list\n", "{{{",
               "key: !!python/object:os.system ls", "name: x\nreward_ports: 3\n",
               "\ufeffname: x"]
    for i, text in enumerate(garbage):
        cfg = tmp_path / f"g{i}.yaml"
        cfg.write_text(text)
        check_output(main(["check", str(cfg)]), capsys.readouterr().err)
