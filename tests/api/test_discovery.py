"""Discovery, health, OpenAPI and metrics over HTTP."""

from __future__ import annotations

import json
import re

import pytest

from api.operations.catalogue import OPERATIONS
from api.operations.edge import errors_of
from api.problems import STATUS_OF
from api.schemas import INTENT_EXAMPLES
from tests.api.conftest import ApiNode


def test_chain_names_the_domain_requests_are_signed_for(node: ApiNode) -> None:
    body = node.client.get("/v1/chain").json()
    deployment = node.services.deployment
    assert body["chain_id"] == deployment.chain_id
    assert body["registry_code"] == "AU"
    assert body["contracts"]["UnitRegistry"] == deployment.registry
    assert body["eip712_domain"] == {
        "name": "UnitRegistry",
        "version": "1",
        "chainId": deployment.chain_id,
        "verifyingContract": deployment.registry,
    }


def test_health_reports_chain_and_mirror_blocks(node: ApiNode) -> None:
    head = node.registry.client.block_number()
    node.wait_indexed(head)
    body = node.client.get("/v1/health").json()
    assert body["status"] == "ok"
    assert body["chain_block"] >= head
    assert body["indexed_block"] >= head


def test_unknown_path_is_a_problem(node: ApiNode) -> None:
    response = node.client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


def test_openapi_and_metrics_are_served(node: ApiNode) -> None:
    assert node.client.get("/openapi.json").json()["info"]["title"] == "Unit registry API"
    node.client.get("/v1/health")
    metrics = node.client.get("/metrics").text
    assert "registry_api_request_seconds_bucket" in metrics
    assert "registry_indexer_lag_blocks" in metrics


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_another_host(node: ApiNode, path: str) -> None:
    page = node.client.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(
        r"url: '([^']+)'|\"url\": \"([^\"]+)\"", page.text
    )
    urls = [u for pair in assets for u in (pair if isinstance(pair, tuple) else (pair,)) if u]
    assert urls, page.text
    for url in urls:
        assert url.startswith("/"), f"{path} loads {url} from another host"
        if "static" in url:
            assert node.client.get(url).status_code == 200, url


def test_openapi_declares_errors_as_the_server_sends_them(node: ApiNode) -> None:
    spec = node.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(operations) > 90
    for path, method, op in operations:
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (path, status)
        assert "422" in op["responses"], (path, method)
        if method == "post" and "202" in op["responses"]:  # a signed write's submit
            assert {"400", "403", "409", "413", "429"} <= set(op["responses"]), path
            assert not op["summary"].startswith("Submit "), (path, op["summary"])
    assert all(tag.get("description") for tag in spec["tags"])
    # Summaries are written sentences, not function names ("Prepare Transfer").
    for path, method, op in operations:
        generated = op["operationId"].split("_v1_")[0].replace("_", " ").title()
        assert op["summary"] != generated, (path, method, op["summary"])


def test_every_write_declares_the_errors_of_its_operation_record(node: ApiNode) -> None:
    """Each write's prepare and submit list, status by status, the codes its record declares."""
    spec = node.client.get("/openapi.json").json()
    routes = {
        op["operationId"]: (path, op)
        for path, item in spec["paths"].items()
        for op in item.values()
    }
    assert not any("x-operation" in op for _, op in routes.values())
    prepares = 0
    for record in OPERATIONS:
        stem = f"submit_{record.path.replace('/', '_').replace('-', '_')}_v1_"
        [(path, submit)] = [route for name, route in routes.items() if name.startswith(stem)]
        prepare = spec["paths"].get(f"{path}/prepare", {}).get("post")
        prepares += prepare is not None
        for route, is_submit in ((submit, True), (prepare, False)):
            if route is None:
                continue  # a TransferOut is prepared by POST /v1/transfers/prepare
            responses = route["responses"]
            expected = errors_of(record, submit=is_submit)
            for status, codes in expected.items():
                listed = set(re.findall(r"`([A-Z_]+)`", responses[str(status)]["description"]))
                assert set(codes) <= listed, (path, status, sorted(set(codes) - listed))
                assert listed <= set(STATUS_OF), (path, status)
            assert ("401" in responses) == bool(route.get("security")), path
            assert ("403" in responses) == (403 in expected), path
            assert ("409" in responses) == (409 in expected) and "422" in responses, path
            assert ("429" in responses) == is_submit == (429 in expected), path
        assert {code for code in record.codes if STATUS_OF[code] == 409} <= set(
            re.findall(r"`([A-Z_]+)`", submit["responses"]["409"]["description"])
        )
        assert "NONCE_USED" in submit["responses"]["409"]["description"], path
        assert "RATE_LIMITED" in submit["responses"]["429"]["description"], path
    assert prepares >= len(OPERATIONS) - 3


def test_every_intent_has_a_written_example_that_validates(node: ApiNode) -> None:
    spec = node.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    prepares = [
        (path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method == "post" and path.endswith("/prepare")
    ]
    assert len(prepares) >= 30
    for path, op in prepares:
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[-1]]
        assert schema.get("examples"), f"{path}: {ref} has no example"
    for model, example in INTENT_EXAMPLES.items():
        model.model_validate_json(json.dumps(example))  # raises if the example drifted
    for record in OPERATIONS:  # an intent declared beside its record carries its example there
        if record.prepare is not None and record.prepare.example is not None:
            record.prepare.intent.model_validate_json(json.dumps(record.prepare.example))
