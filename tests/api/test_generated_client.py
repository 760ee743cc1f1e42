"""A client generated from /openapi.json alone (openapi-python-client) drives a signed write.

An integrator in any language starts from the OpenAPI document; if it lied about a body, a
response or an error, the generated client would fail to build, to send or to parse.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.api.conftest import ApiNode

PACKAGE = "unit_registry_api_client"


@pytest.fixture(scope="module")
def generated(node: ApiNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate a Python client from the node's /openapi.json and import it."""
    root = tmp_path_factory.mktemp("generated")
    spec = root / "openapi.json"
    spec.write_text(node.client.get("/openapi.json").text)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(root / "client"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every operation generated: a warning means a part of the document it could not read.
    assert "WARNING" not in result.stdout and "Unable to" not in result.stdout, result.stdout
    sys.path.insert(0, str(root / "client"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root / "client"))
        for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
            del sys.modules[name]


def _operation(name: str) -> Any:
    found = [
        m
        for m in ("writes", "registers", "requests", "discovery")
        if importlib.util.find_spec(f"{PACKAGE}.api.{m}.{name}") is not None
    ]
    assert found, name
    return importlib.import_module(f"{PACKAGE}.api.{found[0]}.{name}")


def test_a_generated_client_prepares_submits_and_reads_a_signed_write(
    node: ApiNode, generated: ModuleType
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.Client(base_url="http://testserver")
    client.set_httpx_client(node.client)  # the live app, through the generated code
    issuer = node.keys["issuer"]
    prepare = _operation("prepare_project_v1_admin_projects_prepare_post")
    prepared = prepare.sync_detailed(
        client=client,
        body=models.ProjectIntent(
            signer=issuer.address, project_id="GEN-1", name="Generated", country="AU"
        ),
    )
    assert prepared.status_code == 200, prepared.content
    typed = prepared.parsed.typed_data.to_dict()
    signature = issuer.sign_message(encode_typed_data(full_message=typed)).signature
    submit = _operation("submit_admin_projects_v1_admin_projects_post")
    submitted = submit.sync_detailed(
        client=client,
        body=models.SignedSubmission(
            typed_data=models.SignedSubmissionTypedData.from_dict(typed),
            signature="0x" + bytes(signature).hex(),
        ),
    )
    assert submitted.status_code == 202, submitted.content
    assert submitted.parsed.request_id.startswith("0x")

    # The error contract holds too: a second submission with a forged signature is a Problem.
    forged = Account.create().sign_message(encode_typed_data(full_message=typed)).signature
    refused = submit.sync_detailed(
        client=client,
        body=models.SignedSubmission(
            typed_data=models.SignedSubmissionTypedData.from_dict(typed),
            signature="0x" + bytes(forged).hex(),
        ),
    )
    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.Problem) and refused.parsed.code == "INVALID_SIGNATURE"

    read = _operation("get_project_v1_registers_projects_project_id_get")
    deadline = time.monotonic() + 30
    while (project := read.sync_detailed(client=client, project_id="GEN-1")).status_code != 200:
        assert time.monotonic() < deadline, project.content
        time.sleep(0.1)
    assert project.parsed.project_id == "GEN-1" and project.parsed.as_of_block >= 1
