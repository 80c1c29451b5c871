"""The targets file of a fleet: rows with their lines, names checked, values validated like -p."""

from __future__ import annotations

import pytest

from converter.errors import ParameterError
from converter.fleet import Controls, read_targets, resolve_targets
from converter.fleet.controls import waves
from converter.model import Parameter

DECLARED = (
    Parameter(name="region", type="str", pattern="[a-z-]+", required=True),
    Parameter(name="port", type="int", default=5432),
)


def refusal(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParameterError) as caught:
        resolve_targets(read_targets(path), DECLARED, {}, path=str(path))
    return str(caught.value).replace(str(path), name)


def test_csv_rows_keep_their_lines_and_values(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("target,region,port\ndb1,eu,5433\n\ndb2,us,5434\n", encoding="utf-8")
    targets = read_targets(path)
    assert [(t.name, t.line, t.values) for t in targets] == [
        ("db1", 2, {"region": "eu", "port": "5433"}),
        ("db2", 4, {"region": "us", "port": "5434"}),
    ]
    resolved = resolve_targets(targets, DECLARED, {"port": "1"}, path=str(path))
    assert resolved["db2"].values == {"region": "us", "port": 5434}


@pytest.mark.parametrize("header", ["target,region", "region,target"])
def test_a_csv_with_a_byte_order_mark_reads_as_without(tmp_path, header):
    """Excel's "CSV UTF-8" starts with a BOM: it is no part of the first column's name."""
    path = tmp_path / "t.csv"
    path.write_bytes(
        (
            "\ufeff"
            + header
            + "\n"
            + ",".join("db1" if c == "target" else "eu" for c in header.split(","))
            + "\n"
        ).encode("utf-8")
    )
    (target,) = read_targets(path)
    assert (target.name, target.values) == ("db1", {"region": "eu"})


def test_yaml_rows_keep_their_lines(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("- target: db1\n  region: eu\n- target: db2\n  region: us\n  port: 1\n")
    assert [(t.name, t.line) for t in read_targets(path)] == [("db1", 1), ("db2", 3)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "target,region\ndb1,eu\ndb2,EU\n", "a.csv:3: target 'db2': parameter 'region'"),
        ("b.csv", "target,region\ndb1,eu\ndb2,us,extra\n", "b.csv:3: 3 values for 2 columns"),
        ("c.csv", "name,region\ndb1,eu\n", "c.csv:1: the header row has no 'target' column"),
        ("d.csv", "target,region\n../etc,eu\n", "d.csv:2: target name '../etc' is not safe"),
        ("e.csv", "target,region\ndb1,eu\ndb1,us\n", "e.csv:3: target 'db1' is named twice"),
        ("f.csv", "target,region\ndb1,eu\n,us\n", "f.csv:3: no 'target' value"),
        ("g.csv", "target,zone\ndb1,eu\n", "g.csv:2: target 'db1': unknown parameter 'zone'"),
        ("h.yaml", "- target: db1\n  region: eu\n- target: db2\n  port: x\n", "h.yaml:3: target"),
        ("i.yaml", "target: db1\n", "i.yaml:1: a YAML targets file is a list"),
        ("j.csv", "", "j.csv:1: the targets file names no target"),
        ("k.txt", "target\n", "k.txt: a targets file is .csv, .yaml or .yml"),
    ],
)
def test_one_bad_row_refuses_the_fleet_at_its_line(tmp_path, name, text, message):
    assert refusal(tmp_path, name, text).startswith(message)


def test_waves_put_the_canary_alone_then_batches():
    names = [f"t{i}" for i in range(7)]
    assert waves(names, Controls(canary=2, batch_size=2)) == [
        ["t0", "t1"], ["t2", "t3"], ["t4", "t5"], ["t6"],
    ]  # fmt: skip
    assert waves(names, Controls()) == [names]
