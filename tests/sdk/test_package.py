"""The SDK as a distribution of its own: `sdk/pyproject.toml` builds a wheel that needs only
httpx and eth-account, and importing it loads nothing of the server side. Offline: the wheel is
built without build isolation, with the hatchling of this environment."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run in a child with only the unpacked wheel and this environment's installed packages on the
# path (not the checkout): import the SDK, build a client, and list what got imported.
_PROBE = """
import sys
wheel, site = sys.argv[1], sys.argv[2]
sys.path[:] = [wheel, site] + [p for p in sys.path if p.startswith(sys.base_prefix)]
import sdk
from sdk import AsyncRegistryClient, RegistryClient
RegistryClient("https://registry.example", "0x" + "11" * 32)
AsyncRegistryClient("https://registry.example", "0x" + "11" * 32)
print(sdk.__file__)
print(" ".join(sorted(sys.modules)))
"""

SERVER_SIDE = ("fastapi", "starlette", "web3", "sqlalchemy", "sqlmodel", "typer", "uvicorn")
OWN_SERVER = ("node", "indexer", "api")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling")
    out = tmp_path_factory.mktemp("sdk-wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--no-index", "--quiet", "--wheel-dir", str(out), str(ROOT / "sdk")]
    subprocess.run(command, check=True, capture_output=True)
    (built,) = out.glob("registry_sdk-*.whl")
    return built


def test_the_wheel_requires_only_httpx_and_eth_account(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(archive.read(metadata).decode())
    requires = sorted(
        value.split(">")[0].split("=")[0] for value in fields.get_all("Requires-Dist")
    )
    assert fields["Name"] == "registry-sdk"
    assert requires == ["eth-account", "httpx"]
    assert "sdk/py.typed" in names and "sdk/client.py" in names
    assert "sdk/demo.py" not in names  # the demo is a `registry` sub-command of the node
    assert all(name.startswith(("sdk/", "registry_sdk-")) for name in names), names


def test_the_wheel_imports_nothing_of_the_server(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    site = sysconfig.get_paths()["purelib"]
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, str(unpacked), site],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    location, modules = probe.stdout.splitlines()
    assert Path(location).is_relative_to(unpacked)
    loaded = {name.split(".")[0] for name in modules.split()}
    assert not loaded & set(SERVER_SIDE + OWN_SERVER), loaded & set(SERVER_SIDE + OWN_SERVER)
    assert {"httpx", "eth_account"} <= loaded
