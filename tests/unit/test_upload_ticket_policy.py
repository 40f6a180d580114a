"""Upload tickets: the key layout they pin, the types they take, and who may touch them in template.yaml."""

from __future__ import annotations

import json
import uuid

import pytest

from imagepipe import keys
from imagepipe.imaging.formats import UPLOAD_FORMATS
from imagepipe_tools.local import template as cfn
from imagepipe.stages.upload_url import UPLOAD_CONTENT_TYPES

from tests.conftest import ROOT

TEMPLATE = cfn.load(ROOT / "template.yaml")
FUNCTIONS = {k: v["Properties"] for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
UPLOADS_ARN = "arn:${AWS::Partition}:s3:::imagepipe-${Stage}-originals-${AWS::AccountId}-${AWS::Region}/uploads/*"
TICKETS_ARN = {"Fn::GetAtt": ["UploadTicketsTable", "Arn"]}


def statements(function: str) -> list[dict]:
    return [s for p in FUNCTIONS[function]["Policies"] if isinstance(p, dict) for s in p.get("Statement", [])]


def actions(statement: dict) -> set[str]:
    return set(statement["Action"]) if isinstance(statement["Action"], list) else {statement["Action"]}


def test_a_ticket_takes_exactly_the_types_the_uploads_stage_accepts():
    """The issuer's list (kept free of the imaging package) equals `UPLOAD_FORMATS`' content types."""
    assert UPLOAD_CONTENT_TYPES == {spec.content_type for spec in UPLOAD_FORMATS.values()}


def test_only_keys_upload_url_issues_name_an_upload():
    """uploads/{uuid4} round-trips; anything else under uploads/ names no upload (so no ticket)."""
    upload_id = str(uuid.uuid4())
    assert keys.upload_id_from_key(keys.upload_key(upload_id)) == upload_id
    for other in (f"uploads/{upload_id}/x.jpg", f"uploads/{upload_id.upper()}", f"uploads/{uuid.uuid1()}",
                  "uploads/dave/valley.jpg", f"originals/{upload_id}", f"uploads/{upload_id}.jpg"):
        assert keys.upload_id_from_key(other) is None, other


def test_upload_url_is_iam_only_and_may_sign_for_uploads_and_issue_tickets_only():
    """Its Function URL needs IAM; its role (which every presigned POST acts with) may put objects
    under uploads/ only, and may write tickets but never read or claim them."""
    props = FUNCTIONS["UploadUrlFunction"]
    assert props["FunctionUrlConfig"]["AuthType"] == "AWS_IAM"
    assert [p for p in props["Policies"] if not (isinstance(p, dict) and set(p) == {"Statement"})] == []
    granted = {(frozenset(actions(s)), json.dumps(s["Resource"], sort_keys=True)) for s in statements("UploadUrlFunction")}
    assert granted == {
        (frozenset({"s3:PutObject"}), json.dumps({"Fn::Sub": UPLOADS_ARN})),
        (frozenset({"dynamodb:PutItem"}), json.dumps(TICKETS_ARN, sort_keys=True)),
    }


def test_only_upload_url_writes_tickets_and_only_the_uploads_function_claims_them():
    """The uploads function reads and claims tickets (GetItem, UpdateItem) but cannot mint one;
    no other function's policies or environment name the tickets table."""
    (claim,) = [s for s in statements("UploadsFunction") if s["Resource"] == TICKETS_ARN]
    assert actions(claim) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    for name, props in FUNCTIONS.items():
        if name not in {"UploadUrlFunction", "UploadsFunction"}:
            assert "UploadTicketsTable" not in json.dumps(props), name


@pytest.mark.parametrize("function", ["UploadUrlFunction", "UploadsFunction"])
def test_both_ends_read_the_same_tickets_table(function):
    assert FUNCTIONS[function]["Environment"]["Variables"]["UPLOAD_TICKETS_TABLE"] == {"Ref": "UploadTicketsTable"}
