"""router.json parsing and the routing choice (pure)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from visionroll_serving.router.answers import TopOne, error_body, top_one
from visionroll_serving.router.config import ConfigError, parse_config, parse_resolve
from visionroll_serving.router.routing import Picker


def config(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "namespace": "default",
        "visionmodel": "digits",
        "model": "digits",
        "variants": [
            {"name": "stable", "revision": "1-0-ab12cd", "version": "1.0",
             "upstream": "http://digits-1-0-ab12cd.default.svc:8080", "weight": 75},
            {"name": "candidate", "revision": "2-0-ef34aa", "version": "2.0",
             "upstream": "http://digits-2-0-ef34aa.default.svc:8080", "weight": 25},
        ],
        "shadow": {"variant": "candidate", "percent": 100},
        "stickyHeader": "X-VisionRoll-Session",
    }  # fmt: skip
    base.update(changes)
    return base


def test_the_contract_example_parses() -> None:
    parsed = parse_config(json.dumps(config()))
    assert [v.name for v in parsed.variants] == ["stable", "candidate"]
    assert parsed.shadow is not None and parsed.shadow.percent == 100
    assert parsed.sticky_header == "x-visionroll-session"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"variants": []}, "variants"),
        ({"variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 90}]},
         "sum to 100"),
        ({"variants": [{"name": "blue", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100}]},
         "variants[0].name"),
        ({"variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "ftp://a", "weight": 100}]},
         "variants[0].upstream"),
        ({"variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": True}]},
         "variants[0].weight"),
        ({"shadow": {"variant": "nobody", "percent": 10}}, "shadow.variant"),
        ({"shadow": {"variant": "candidate", "percent": 101}}, "shadow.percent"),
        ({"model": ""}, "model"),
        ({"paired": 10}, "paired: must be an object"),
        ({"paired": {"candidatePercent": 101}}, "paired.candidatePercent"),
        ({"paired": {"candidatePercent": "10"}}, "paired.candidatePercent"),
        ({"paired": {"stablePercent": -1}}, "paired.stablePercent"),
        ({"paired": {"percent": 10}}, "paired: unknown field 'percent'"),
        ({"paired": {"candidatePercent": 10}, "shadow": None,
          "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100}]},
         "paired: copies need both variants"),
    ],
)  # fmt: skip
def test_invalid_configs_name_the_field(changes: dict[str, Any], field: str) -> None:
    pattern = field if "\\" in field else field.replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ConfigError, match=pattern):
        parse_config(json.dumps(config(**changes)))


def test_not_json_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_config('{"variants": ')


def test_resolve_maps_cluster_hosts_to_loopback() -> None:
    mapping = parse_resolve(["digits-1-0-ab12cd.default.svc:8080=127.0.0.1:18080"])
    parsed = parse_config(json.dumps(config()), resolve=mapping)
    assert parsed.variant("stable").upstream == "http://127.0.0.1:18080"
    assert parsed.variant("candidate").upstream == "http://digits-2-0-ef34aa.default.svc:8080"
    with pytest.raises(ConfigError):
        parse_resolve(["no-port=127.0.0.1"])


def test_buckets_follow_weights_and_zero_weight_gets_nothing() -> None:
    picker = Picker(parse_config(json.dumps(config(shadow=None))))
    counts = Counter(picker.live(bucket / 10).name for bucket in range(1000))
    assert counts == {"stable": 750, "candidate": 250}
    only_stable = config(shadow=None)
    only_stable["variants"][0]["weight"], only_stable["variants"][1]["weight"] = 100, 0
    picker = Picker(parse_config(json.dumps(only_stable)))
    assert {picker.live(bucket / 10).name for bucket in range(1000)} == {"stable"}


def test_sticky_sessions_are_stable_and_spread() -> None:
    picker = Picker(parse_config(json.dumps(config())))
    first = {
        f"s{i}": picker.route(draw=0.0, mirror_draw=0.5, paired_draw=0.5, sticky=f"s{i}").live.name for i in range(400)
    }
    again = {
        f"s{i}": picker.route(draw=0.99, mirror_draw=0.5, paired_draw=0.5, sticky=f"s{i}").live.name for i in range(400)
    }
    assert first == again
    assert 60 <= Counter(first.values())["candidate"] <= 140  # 25% of 400, loosely


def test_shadow_is_never_the_live_variant_and_follows_percent() -> None:
    picker = Picker(parse_config(json.dumps(config(shadow={"variant": "candidate", "percent": 30}))))
    route = picker.route(draw=0.9, mirror_draw=0.0, paired_draw=1.0)  # bucket 90 -> candidate is live
    assert route.live.name == "candidate" and route.shadow is None
    assert picker.route(draw=0.1, mirror_draw=0.29, paired_draw=1.0).shadow is not None
    assert picker.route(draw=0.1, mirror_draw=0.30, paired_draw=1.0).shadow is None


def test_paired_copies_go_to_the_other_variant_for_their_share() -> None:
    picker = Picker(parse_config(json.dumps(config(shadow=None, paired={"candidatePercent": 10, "stablePercent": 2}))))
    to_stable = picker.route(draw=0.9, mirror_draw=0.0, paired_draw=0.09)  # candidate live, 10% copied
    assert (to_stable.live.name, to_stable.paired and to_stable.paired.name, to_stable.shadow) == (
        "candidate", "stable", None)  # fmt: skip
    assert picker.route(draw=0.9, mirror_draw=0.0, paired_draw=0.10).paired is None
    to_candidate = picker.route(draw=0.1, mirror_draw=0.0, paired_draw=0.019)  # stable live, 2% copied
    assert to_candidate.paired is not None and to_candidate.paired.name == "candidate"
    assert picker.route(draw=0.1, mirror_draw=0.0, paired_draw=0.02).paired is None
    assert parse_config(json.dumps(config())).paired is None  # absent: no copies


def test_a_request_gets_at_most_one_copy_and_a_mirror_comes_first() -> None:
    both = config(shadow={"variant": "candidate", "percent": 50}, paired={"stablePercent": 100})
    picker = Picker(parse_config(json.dumps(both)))
    mirrored = picker.route(draw=0.1, mirror_draw=0.2, paired_draw=0.0)
    assert mirrored.shadow is not None and mirrored.paired is None
    paired = picker.route(draw=0.1, mirror_draw=0.7, paired_draw=0.0)
    assert paired.shadow is None and paired.paired is not None


def test_top_one_reads_the_handler_answer() -> None:
    body = b'{"model": "digits", "version": "1.0", "top_k": [{"label": "7", "index": 7, "score": 0.98}]}'
    assert top_one(body) == TopOne("7", 0.98)
    assert top_one(b'{"error": "bad", "code": 400}') is None
    assert top_one(b"<html>") is None


def test_upstream_errors_reach_clients_in_one_form() -> None:
    torchserve_503 = (
        b'{"code": 503, "type": "ServiceUnavailableException", "message": "Model \\"digits\\" has no worker"}'
    )
    assert json.loads(error_body(503, torchserve_503, "candidate") or b"") == {
        "error": 'upstream candidate answered 503: Model "digits" has no worker',
        "code": 503,
    }
    assert json.loads(error_body(502, b"<html>Bad Gateway</html>", "stable") or b"") == {
        "error": "upstream stable answered 502: <html>Bad Gateway</html>",
        "code": 502,
    }
    assert json.loads(error_body(500, b"", "stable") or b"")["error"] == "upstream stable answered 500: no body"
    assert error_body(400, b'{"error": "not a decodable image", "code": 400}', "stable") is None  # the handler's
