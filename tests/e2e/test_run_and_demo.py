"""The main job end to end: `registry up` on a fresh data dir, then `registry demo` against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _free_port


def test_registry_up_serves_the_api_and_the_demo_runs(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    api_port, chain_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(tmp_path / "data"),
        "REGISTRY_API_PORT": str(api_port),
        "REGISTRY_CHAIN_PORT": str(chain_port),
    }
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen([str(bin_dir / "registry"), "up"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{api_port}/v1/health").json()
                if health["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        printed = (tmp_path / "up.log").read_text()
        assert f"api: http://127.0.0.1:{api_port}/v1" in printed
        assert "DEVELOPMENT KEYS" in printed and (tmp_path / "data" / "dev-accounts.json").exists()

        demo = subprocess.run(
            [str(bin_dir / "registry"), "demo", "--api-url", f"http://127.0.0.1:{api_port}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert demo.returncode == 0, demo.stderr + demo.stdout
        for step in (
            "opens the seller's account",
            "issues 10,000",
            "approves transfer",
            "cancels 1,000",
            "public register",
            "registers the Harbour Exchange platform",
            "escrows 1,000 units",
            "1,000 units, all escrowed",
            "settles escrow",
        ):
            assert step in demo.stdout
        assert demo.stdout.count("    tx 0x") == 12
        assert '"state": "cancelled"' in demo.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
        log.close()


def test_the_demo_without_a_node_says_so_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key = "0x" + "11" * 32
    roles = ("registry_admin", "issuer", "label_authority", "ar_1", "ar_2", "ar_3", "platform")
    (data / "dev-accounts.json").write_text(json.dumps({r: {"private_key": key} for r in roles}))
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    demo = subprocess.run(
        [str(Path(sys.executable).parent / "registry"), "demo", "--api-url", url],
        env={**os.environ, "REGISTRY_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert demo.returncode == 1
    assert demo.stdout == ""
    lines = demo.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the API at {url}")
    assert "registry up" in lines[0]
