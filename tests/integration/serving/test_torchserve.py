"""The handler and the management client against a real TorchServe."""

from __future__ import annotations

import base64

import pytest
import requests

from localkube import local
from visionroll_serving.build import BuildResult
from visionroll_serving.management import TorchServeManagement, TorchServeNotFound, TorchServeUnauthorized

pytestmark = pytest.mark.torchserve


def test_every_input_form_gets_the_same_answer(torchserve: local.TorchServe, pngs: list[tuple[bytes, int]]) -> None:
    url = torchserve.inference_url + "/predictions/digits/1.0"
    png, label = pngs[0]
    raw = requests.post(url, data=png, headers={"Content-Type": "image/png"}, timeout=10)
    as_json = requests.post(url, json={"image": base64.b64encode(png).decode()}, timeout=10)
    multipart = requests.post(url, files={"file": ("digit.png", png, "image/png")}, timeout=10)
    assert raw.status_code == as_json.status_code == multipart.status_code == 200
    assert raw.json() == as_json.json() == multipart.json()
    answer = raw.json()
    assert (answer["model"], answer["version"], answer["top_k"][0]["label"]) == ("digits", "1.0", str(label))
    assert len(answer["top_k"]) == 3 and answer["top_k"][0]["score"] >= answer["top_k"][1]["score"]


def test_batches_answer_each_request_on_its_own(torchserve: local.TorchServe, pngs: list[tuple[bytes, int]]) -> None:
    (description,) = torchserve.management().describe("digits", "1.0")
    assert description.batch_size == 4
    bodies = [b"garbage" if i % 5 == 0 else pngs[i][0] for i in range(80)]
    url = torchserve.inference_url + "/predictions/digits/1.0"
    sequential = [requests.post(url, data=body, timeout=10) for body in bodies[:10]]
    concurrent = local.post_many(url, bodies, concurrency=8)
    assert [r.status_code for r in concurrent] == [400 if i % 5 == 0 else 200 for i in range(80)]
    for batched, alone in zip(concurrent[:10], sequential, strict=True):  # float noise aside, batching changes nothing
        if alone.status_code == 200:
            assert [e["label"] for e in batched.json()["top_k"]] == [e["label"] for e in alone.json()["top_k"]]
            assert batched.json()["top_k"][0]["score"] == pytest.approx(alone.json()["top_k"][0]["score"], abs=1e-4)
        else:
            assert batched.json() == alone.json()
    correct = sum(r.json()["top_k"][0]["label"] == str(pngs[i][1]) for i, r in enumerate(concurrent) if i % 5)
    assert correct >= 0.95 * 64


def test_management_describes_scales_and_reports_readiness(torchserve: local.TorchServe) -> None:
    client = torchserve.management()
    assert client.list_models() == ["digits"]
    versions = {d.version: d for d in client.describe("digits")}
    assert set(versions) == {"1.0", "3.0", "4.0"}
    assert versions["4.0"].ready_workers == 1 and versions["4.0"].queue_remaining is not None
    assert client.readiness().ready
    try:
        client.scale("digits", version="4.0", min_workers=2)
        (scaled,) = client.describe("digits", "4.0")
        assert scaled.ready_workers == 2 and scaled.min_workers == 2
    finally:
        client.scale("digits", version="4.0", min_workers=1)
    with pytest.raises(TorchServeNotFound):
        client.describe("cats")


def test_token_authorization_is_reported_as_unauthorised(archives: BuildResult) -> None:
    with local.TorchServe([archives.archive("1.0")], token_auth=True) as server:
        server.start()
        with pytest.raises(TorchServeUnauthorized):
            TorchServeManagement(server.management_url).list_models()
        key = server.key_file()["management"]["key"]
        assert TorchServeManagement(server.management_url, token=key).readiness().ready
