"""The package's floors: no import from a lower floor to a higher one, no import circle, every module on a floor."""

import subprocess
import sys
import textwrap
from pathlib import Path

from suite.layers import LAYERS, check, floor_of, module_names

REPO = Path(__file__).resolve().parent.parent


def test_the_package_has_no_upward_import_and_no_circle():
    assert check() == []


def test_every_module_is_on_a_floor_and_the_floors_are_ordered():
    for module in module_names():
        floor_of(module)  # raises for a module on no floor
    assert floor_of("suite.errors") < floor_of("suite.yamlio") < floor_of("suite.config") < floor_of("suite.metrics")
    assert floor_of("suite.models") < floor_of("suite.compress.onnx.runtime") < floor_of("suite.artefacts")
    assert floor_of("suite.artefacts") < floor_of("suite.plan") < floor_of("suite.pipeline") < floor_of("suite.rank")
    assert floor_of("suite.rank.pareto") < floor_of("suite.site.pages") < floor_of("suite.cli")
    assert len({name for floor in LAYERS for name in floor}) == sum(len(floor) for floor in LAYERS)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "suite"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(textwrap.dedent(text))
    return package


def test_an_upward_import_inside_a_function_is_found_with_its_line(tmp_path: Path):
    package = _package(
        tmp_path,
        {
            "errors.py": "",
            "config.py": "from suite.errors import X\n\n\ndef f():\n    from suite.plan import load\n",
            "plan.py": "from suite.config import f\n",
        },
    )
    assert check(package) == [
        "suite/config.py:5: suite.config (floor 2) imports suite.plan (floor 8), which is above it",
        "import circle: suite.config -> suite.plan -> suite.config",
    ]


def test_a_circle_within_one_floor_is_found(tmp_path: Path):
    package = _package(tmp_path, {"data.py": "import suite.models\n", "models.py": "from suite import data\n"})
    assert check(package) == ["import circle: suite.data -> suite.models -> suite.data"]


def test_a_module_on_no_floor_is_reported(tmp_path: Path):
    package = _package(tmp_path, {"newthing.py": ""})
    assert check(package) == ["suite.newthing is on no floor: add it to suite/layers.py LAYERS"]


def test_cli_prints_the_floors_and_exits_zero():
    done = subprocess.run(
        [sys.executable, "-m", "suite", "layers"], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["0", *LAYERS[0]]
    assert done.stdout.strip().endswith("0 problems")
