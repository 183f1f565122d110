"""Intrinsic function resolution."""

from __future__ import annotations

import pytest

from o2o_local.intrinsics import UnresolvedIntrinsic, resolve

REFS = {"Stage": "dev", "AWS::Region": "us-east-1", "AWS::StackName": "s", "Queue": "https://q",
        "Queue.Arn": "arn:aws:sqs:us-east-1:1:q", "Empty": ""}
CONDITIONS = {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
              "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
              "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": ["a", "a"]}]},
              "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Empty"}, ""]}]}}


def r(value):
    return resolve(value, REFS, conditions=CONDITIONS, mappings={"M": {"dev": {"size": 3}}})


def test_ref_getatt_sub_join_select_split():
    assert r({"Ref": "Stage"}) == "dev"
    assert r({"Fn::GetAtt": ["Queue", "Arn"]}) == r({"Fn::GetAtt": "Queue.Arn"}) == "arn:aws:sqs:us-east-1:1:q"
    assert r({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue.Arn}-${!Literal}"}) == "s-dev-arn:aws:sqs:us-east-1:1:q-${Literal}"
    assert r({"Fn::Sub": ["${X}/${Stage}", {"X": {"Ref": "Queue"}}]}) == "https://q/dev"
    assert r({"Fn::Join": [",", ["a", {"Ref": "Stage"}]]}) == "a,dev"
    assert r({"Fn::Select": ["1", ["a", "b"]]}) == "b"
    assert r({"Fn::Split": ["-", "a-b"]}) == ["a", "b"]
    assert r({"Fn::FindInMap": ["M", {"Ref": "Stage"}, "size"]}) == 3


def test_conditions_and_if():
    assert r({"Fn::If": ["IsProd", "p", "d"]}) == "d"
    assert r({"Fn::If": ["IsDev", "d", "p"]}) == "d"
    assert r({"Fn::If": ["Both", 1, 2]}) == 1
    assert r({"Fn::If": ["Either", 1, 2]}) == 1
    prod = resolve({"Fn::If": ["IsProd", "p", "d"]}, {**REFS, "Stage": "prod"}, conditions=CONDITIONS)
    assert prod == "p"


def test_no_value_removes_keys_and_items():
    value = {"a": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]}, "b": [1, {"Ref": "AWS::NoValue"}, 2]}
    assert r(value) == {"b": [1, 2]}


def test_nested_structures_are_resolved():
    assert r({"Variables": {"A": {"Ref": "Stage"}, "B": [{"Ref": "Queue"}]}}) == {"Variables": {"A": "dev", "B": ["https://q"]}}


def test_clear_errors():
    with pytest.raises(UnresolvedIntrinsic, match="Ref 'Nope'"):
        r({"Ref": "Nope"})
    with pytest.raises(UnresolvedIntrinsic, match=r"\$\{Nope\}"):
        r({"Fn::Sub": "${Nope}"})
    with pytest.raises(UnresolvedIntrinsic, match="Fn::ImportValue is not supported"):
        r({"Fn::ImportValue": "x"})
    with pytest.raises(UnresolvedIntrinsic, match="Condition 'Missing'"):
        r({"Fn::If": ["Missing", 1, 2]})
