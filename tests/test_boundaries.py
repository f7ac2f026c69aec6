"""The tree's boundaries, read from the imports (docs/architecture.md#1).

- the runtime (``kubeedge_actors``) imports neither the edge's modules nor the cloud side,
  except its composition root ``__main__``, which puts the edge together;
- an edge module (``actors/<module>/``) imports no other module: they talk through messages,
  in the names of :mod:`actors.protocol`;
- nothing of the edge imports the cloud side.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EDGE_MODULES = sorted(p.name for p in (ROOT / "actors").iterdir() if (p / "__init__.py").exists())
SHARED_EDGE = {"actors", "actors.keys", "actors.protocol", "actors.testing"}


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def offending(paths: list[Path], allowed: object) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: imports {name}" for path in paths for line, name in imports_of(path) if not allowed(path, name)
    ]


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def test_the_runtime_imports_no_module_of_the_edge_and_nothing_of_the_cloud() -> None:
    paths = [p for p in (ROOT / "kubeedge_actors").rglob("*.py") if p.name != "__main__.py"]

    assert offending(paths, lambda _, name: top(name) not in ("actors", "kubeedge_cloud")) == []


@pytest.mark.parametrize("module", EDGE_MODULES)
def test_an_edge_module_imports_no_other_module(module: str) -> None:
    def allowed(_: Path, name: str) -> bool:
        if top(name) == "kubeedge_cloud":
            return False
        if top(name) != "actors" or name in SHARED_EDGE:
            return True
        return name.split(".")[1] == module

    assert offending(sorted((ROOT / "actors" / module).rglob("*.py")), allowed) == []


#: What only the cloud side needs: its own package, its websocket server, its PKI.
CLOUD_ONLY = ("kubeedge_cloud", "websockets", "cryptography")
LOADED = f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({CLOUD_ONLY!r})))"
HELP = """
import runpy, sys
sys.argv = ["kubeedge_actors", "--help"]
try:
    runpy.run_module("kubeedge_actors", run_name="__main__")
except SystemExit:
    pass
"""
BUILT_RUNTIME = """
import sys
from actors import builtin_modules
from actors.keys import edge_defaults
from kubeedge_actors import Runtime
Runtime(edge_defaults(), builtin_modules())
"""
EDGE_STARTS = {"--help": HELP, "built runtime": BUILT_RUNTIME}


@pytest.mark.parametrize("start", EDGE_STARTS, ids=list(EDGE_STARTS))
def test_the_edge_loads_nothing_of_the_cloud_side(start: str) -> None:
    program = EDGE_STARTS[start] + LOADED

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


#: What only the mapper needs, and only once a device of that protocol is opened (the ``mappers`` extra).
MAPPER_ONLY = ("pymodbus", "asyncua", "serial")
MAPPER_LOADED = f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({MAPPER_ONLY!r})))"
MAPPER_BUILT = """
import sys
from actors.mapper import MapperActor
from actors.mapper.clients import open_client
from actors.mapper.process import run_mapper
"""
OPENED_MODBUS = """
from actors.mapper.errors import DeviceIoError
from actors.mapper.profile import DevicePlan
client = open_client(DevicePlan("d", "m", "modbus-tcp", {"ip": "127.0.0.1", "port": 1, "slaveID": "1"}, ()), 0.1)
try:
    client.connect()
except DeviceIoError:
    pass
"""


@pytest.mark.parametrize("start", EDGE_STARTS, ids=list(EDGE_STARTS))
def test_the_edge_loads_no_protocol_library_of_the_mapper(start: str) -> None:
    program = EDGE_STARTS[start] + MAPPER_BUILT + MAPPER_LOADED

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_mapper_loads_pymodbus_when_it_opens_a_modbus_device() -> None:
    program = MAPPER_BUILT + OPENED_MODBUS + MAPPER_LOADED

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['pymodbus', 'serial']"  # pymodbus brings pyserial


#: An edge started with these values, then what of ``modules`` it loaded.
STARTED_EDGE = """
import sys
from actors import builtin_modules
from actors.keys import edge_defaults
from kubeedge_actors import Runtime
runtime = Runtime(edge_defaults().with_values({values!r}), builtin_modules())
runtime.start()
loaded = sorted(m for m in {modules!r} if m in sys.modules)
runtime.stop()
print(loaded)
"""
METRICS = ("prometheus_client", "kubeedge_actors.metrics_server")
BROKER = ("asyncio", "actors.bus.broker.server")
BUS_ONLY = {"modules.enabled": ["eventbus"], "mqtt.internal-server": "tcp://127.0.0.1:0", "mqtt.server": "tcp://127.0.0.1:9"}


@pytest.mark.parametrize(
    ("values", "modules", "loaded"),
    [
        ({**BUS_ONLY, "metrics.enabled": False}, METRICS, []),
        ({**BUS_ONLY, "metrics.enabled": True, "metrics.port": 0}, METRICS, sorted(METRICS)),
        ({**BUS_ONLY, "mqtt.mode": 2}, BROKER, []),
        ({**BUS_ONLY, "mqtt.mode": 0}, BROKER, ["actors.bus.broker.server"]),  # on selectors, not asyncio
    ],
    ids=["metrics off", "metrics on", "external broker only", "embedded broker"],
)
def test_an_edge_loads_only_the_libraries_its_configuration_uses(
    values: dict[str, object], modules: tuple[str, ...], loaded: list[str]
) -> None:
    program = STARTED_EDGE.format(values=values, modules=modules)

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(loaded)


#: An edge with only edged, on a Docker socket that is not there (edged starts and retries).
EDGED_ONLY = """
import sys, tempfile
from actors import builtin_modules
from actors.keys import edge_defaults
from kubeedge_actors import Runtime
folder = tempfile.mkdtemp()
docker = f"unix://{{folder}}/no-docker.sock"
values = {{"modules.enabled": ["edged"], "edged.docker-address": docker, "edged.root-directory": folder, **{values!r}}}
runtime = Runtime(edge_defaults().with_values(values), builtin_modules())
runtime.start()
loaded = sorted(m for m in {modules!r} if m in sys.modules)
runtime.stop()
print(loaded)
"""
POD_LIST_SERVER = ("actors.edged.server", "http.server")


def test_edged_loads_no_http_server_while_its_pod_list_endpoint_is_off() -> None:
    program = EDGED_ONLY.format(values={"edged.server-port": 0}, modules=POD_LIST_SERVER)

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_edge_loads_the_mapper_only_when_it_is_enabled() -> None:
    program = BUILT_RUNTIME + "print(sorted(m for m in sys.modules if m.startswith('actors.mapper')))"

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_mapper_spec_names_the_module_and_group_its_class_has() -> None:
    from actors import builtin_modules
    from actors.mapper import MapperActor

    spec = builtin_modules()[MapperActor.module_name]

    assert (spec.module_name, spec.module_group, spec.module_class()) == (MapperActor.module_name, MapperActor.module_group, MapperActor)


#: The edge's program (``python -m kubeedge_actors``) up to its runtime, warnings as errors.
EDGE_PROGRAM = """
import sys
from kubeedge_actors.__main__ import skip_charset_detection
skip_charset_detection()
from actors import builtin_modules
from actors.keys import edge_defaults
from kubeedge_actors import Runtime
Runtime(edge_defaults(), builtin_modules())
"""


def test_the_edges_program_loads_no_charset_detector_for_the_docker_sdk_and_says_nothing_of_it() -> None:
    program = EDGE_PROGRAM + "print(sorted(m for m in ('docker', 'requests', 'charset_normalizer', 'chardet') if sys.modules.get(m)))"

    command = [sys.executable, "-W", "error", "-c", program]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert (result.stdout.strip().splitlines()[-1], result.stderr) == ("['docker', 'requests']", "")


def test_without_a_charset_detector_requests_reads_a_body_that_names_no_charset_as_utf8() -> None:
    # Pins requests' fallback (Response.apparent_encoding), which the edge relies on for Docker's text.
    program = (
        EDGE_PROGRAM
        + """
import requests
response = requests.Response()
response._content, response.encoding = "café ✓".encode(), None
print(ascii(response.text))
"""
    )

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == ascii("café ✓")


def test_the_edge_loads_difflib_and_logging_handlers_only_for_a_bad_key_and_for_syslog() -> None:
    program = (
        EDGE_PROGRAM
        + "from kubeedge_actors.logs import configure_logging\nconfigure_logging(edge_defaults())\n"
        + "print(sorted(m for m in ('difflib', 'logging.handlers', 'pickle') if m in sys.modules))"
    )

    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
