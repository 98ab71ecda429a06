"""Cost model: validation, cost per request, window cost and totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from modelyard.domain.cost import (
    CostModel,
    aggregate,
    cost_per_request,
    hour_bucket,
    parse_cost_models,
    window_cost,
)
from modelyard.errors import InvalidInputError

CPU = CostModel(cpu_second_usd=0.00005, per_request_usd=0.000001)
INSTANCE = CostModel(instance_hour_usd=0.5, instances=2)


def test_cost_per_request_cpu_second() -> None:
    assert cost_per_request(20.0, CPU) == pytest.approx(0.020 * 0.00005 + 0.000001)
    assert cost_per_request(0, CPU) == pytest.approx(0.000001)


def test_cost_per_request_instance_hour_divides_by_hourly_requests() -> None:
    assert cost_per_request(5.0, INSTANCE, requests_in_hour=1000) == pytest.approx(1.0 / 1000)
    with pytest.raises(InvalidInputError) as info:
        cost_per_request(5.0, INSTANCE)
    assert info.value.field == "requests_in_hour"


def test_window_cost() -> None:
    cpu = window_cost(CPU, requests=100, compute_ms=2000.0, window_seconds=300)
    assert cpu.cost_usd == pytest.approx(2.0 * 0.00005 + 100 * 0.000001)
    assert cpu.cost_per_request == pytest.approx(cpu.cost_usd / 100)
    assert cpu.cost_per_hour == pytest.approx(cpu.cost_usd * 12)
    idle = window_cost(INSTANCE, requests=0, compute_ms=0.0, window_seconds=1800)
    assert idle.cost_usd == pytest.approx(0.5) and idle.cost_per_request is None
    assert idle.cost_per_hour == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "monitoring.cost.cpu_second_usd"),
        ({"cpu_second_usd": 1, "instance_hour_usd": 1}, "monitoring.cost.cpu_second_usd"),
        ({"cpu_second_usd": -1}, "monitoring.cost.cpu_second_usd"),
        ({"instance_hour_usd": 1, "instances": 0}, "monitoring.cost.instances"),
        ({"instance_hour_usd": 1, "instances": 1.5}, "monitoring.cost.instances"),
        ({"cpu_second_usd": 1, "instances": 2}, "monitoring.cost.instances"),
        ({"cpu_second_usd": 1, "per_request_usd": "x"}, "monitoring.cost.per_request_usd"),
        ({"cpu_seconds_usd": 1}, "monitoring.cost.cpu_seconds_usd"),
    ],
)
def test_bad_cost_model_names_the_key(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        CostModel.from_dict(data)
    assert info.value.field == field
    assert info.value.message.startswith(field)


def test_parse_cost_models() -> None:
    assert parse_cost_models(None) == {}
    one = parse_cost_models({"cpu_second_usd": 0.00005})
    assert one == {"*": CostModel(cpu_second_usd=0.00005)}
    many = parse_cost_models(
        {"*": {"cpu_second_usd": 0.00005}, "fraud": {"instance_hour_usd": 0.5, "instances": 2}}
    )
    assert many["fraud"] == INSTANCE and many["fraud"].kind == "instance_hour"
    assert CostModel.from_dict(INSTANCE.to_dict()) == INSTANCE
    with pytest.raises(InvalidInputError) as info:
        parse_cost_models({"fraud": {"instance_hour_usd": -1}})
    assert info.value.field == "monitoring.cost.fraud.instance_hour_usd"


def test_aggregate_totals_by_endpoint_version_caller_and_hour() -> None:
    h0 = datetime(2024, 5, 1, 10, tzinfo=UTC)
    h1 = datetime(2024, 5, 1, 11, tzinfo=UTC)
    records = [
        # cpu-priced endpoint
        ("churn", 1, "alice", h0, 10.0),
        ("churn", 1, "bob", h0, 30.0),
        ("churn", 2, "alice", h1, 60.0),
        # instance-priced endpoint: 4 requests in h0, 1 in h1
        ("fraud", 3, "alice", h0, 1.0),
        ("fraud", 3, "alice", h0, 1.0),
        ("fraud", 3, "bob", h0, 1.0),
        ("fraud", 4, None, h0, 1.0),
        ("fraud", 4, "bob", h1, 100.0),
        # no model
        ("free", 1, "alice", h0, 5.0),
    ]
    report = aggregate(iter(records), {"churn": CPU, "fraud": INSTANCE})
    assert report.unpriced == ["free"]

    churn = report.by_endpoint["churn"]
    assert churn.requests == 3 and churn.compute_ms == 100.0
    assert churn.cost_usd == pytest.approx(0.1 * 0.00005 + 3 * 0.000001)
    fraud = report.by_endpoint["fraud"]
    assert fraud.requests == 5
    assert fraud.cost_usd == pytest.approx(2.0)  # one instance-hour pair per active hour
    assert report.by_endpoint["free"].cost_usd == 0.0

    # each of fraud's 4 requests in h0 carries 1/4 of that hour's $1
    assert report.by_version[("fraud", 3)].cost_usd == pytest.approx(0.75)
    assert report.by_version[("fraud", 4)].cost_usd == pytest.approx(0.25 + 1.0)
    assert report.by_version[("fraud", 4)].cost_per_request == pytest.approx(0.625)

    fraud_alice = 0.5
    churn_alice = (10 + 60) / 1000 * 0.00005 + 2 * 0.000001
    assert report.by_caller["alice"].cost_usd == pytest.approx(fraud_alice + churn_alice)
    assert report.by_caller["alice"].requests == 5
    assert report.by_caller[None].cost_usd == pytest.approx(0.25)

    assert report.by_hour[h0].requests == 7 and report.by_hour[h1].requests == 2
    assert report.by_hour[h1].cost_usd == pytest.approx(1.0 + 0.06 * 0.00005 + 0.000001)
    total = report.total
    assert total.requests == len(records)
    assert total.cost_usd == pytest.approx(sum(x.cost_usd for x in report.by_hour.values()))

    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["by_hour"][0]["hour"] == h0.isoformat()
    assert [row["endpoint"] for row in payload["by_endpoint"]] == ["churn", "fraud", "free"]
    assert payload["by_caller"][-1]["caller"] is None


def test_aggregate_with_one_model_and_bad_records() -> None:
    report = aggregate([("a", 1, "c", 0, 1000.0)], CostModel(cpu_second_usd=1.0))
    assert report.total.cost_usd == pytest.approx(1.0) and report.unpriced == []
    with pytest.raises(InvalidInputError) as info:
        aggregate([("a", 1, "c", 0, 1.0), ("a", 1, "c", 0, -5.0)], CPU)
    assert info.value.row == 1 and info.value.field == "compute_ms"
    with pytest.raises(InvalidInputError) as info:
        aggregate([("a", 1, "c")], CPU)  # type: ignore[list-item]
    assert info.value.field == "records"


def test_hour_bucket() -> None:
    moment = datetime(2024, 5, 1, 10, 42, 17, tzinfo=UTC)
    assert hour_bucket(moment) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert hour_bucket(moment.timestamp()) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert hour_bucket(datetime(2024, 5, 1, 10, 42)) == datetime(2024, 5, 1, 10, tzinfo=UTC)
