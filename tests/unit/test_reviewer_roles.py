"""staff.ReviewerRoles: which IAM principals count as staff, and how the template and the local
stack configure it (issue 10, point 8d)."""

from __future__ import annotations

import re

import pytest

from imagepipe.config import Settings
from imagepipe.errors import ConfigurationError
from imagepipe_tools.local import template as cfn
from imagepipe_tools.local.stack import samconfig_overrides
from imagepipe_tools.review_console.server import staff_principal, staff_role_arn
from imagepipe.staff import ReviewerRoles
from tests.conftest import ROOT

TEMPLATE = cfn.load(ROOT / "template.yaml")
REVIEWERS = ReviewerRoles.parse(["arn:aws:iam::123456789012:role/imagepipe-reviewers",
                                 "arn:aws:iam::123456789012:role/teams/moderation/Moderators"])


@pytest.mark.parametrize("principal", [
    "arn:aws:sts::123456789012:assumed-role/imagepipe-reviewers/dana",
    "arn:aws:sts::123456789012:assumed-role/Moderators/erin@example.com",  # a role with a path: its ARN drops it
])
def test_sessions_of_a_listed_role_are_staff(principal):
    """GIVEN the listed roles THEN their sessions (assumed-role ARNs) are admitted."""
    assert REVIEWERS.admits(principal)


@pytest.mark.parametrize("principal", [
    "arn:aws:sts::123456789012:assumed-role/imagepipe-interns/dana",
    "arn:aws:sts::123456789012:assumed-role/imagepipe-reviewers-old/dana",
    "arn:aws:sts::123456789012:assumed-role/imagepipe/reviewers/dana",
    "arn:aws:sts::210987654321:assumed-role/imagepipe-reviewers/dana",  # the same name in another account
    "arn:aws-cn:sts::123456789012:assumed-role/imagepipe-reviewers/dana",  # another partition
    "arn:aws:iam::123456789012:role/imagepipe-reviewers",  # the role itself never signs a request
    "arn:aws:iam::123456789012:user/dana",
    "arn:aws:iam::123456789012:root",
    "AROALOCALREVIEWER:dana",  # a callerId, not an ARN
    "", None,
])
def test_anyone_else_is_not(principal):
    """GIVEN the listed roles THEN other roles, look-alike names, other accounts or partitions, users,
    the root and non-ARNs are refused."""
    assert not REVIEWERS.admits(principal)


def test_an_empty_list_admits_nobody():
    assert not ReviewerRoles.parse([]).admits(staff_principal("dana"))
    assert Settings.from_environ({"REVIEWER_ROLE_ARNS": ""}).reviewer_role_arns == ()


@pytest.mark.parametrize("entry", ["imagepipe-reviewers", "arn:aws:sts::123456789012:assumed-role/r/s",
                                   "arn:aws:iam::123456789012:user/dana", "arn:aws:iam::1234:role/r"])
def test_an_entry_that_is_not_a_role_arn_fails_the_cold_start(entry):
    """GIVEN a misconfigured list THEN parsing it raises ConfigurationError (the function does not start)."""
    with pytest.raises(ConfigurationError, match="REVIEWER_ROLE_ARNS"):
        ReviewerRoles.parse([entry])


def test_the_template_passes_its_parameter_to_the_review_function_only():
    """ReviewerRoleArns defaults to nobody, its pattern accepts what parse() does, and only the review
    function (the staff API) reads REVIEWER_ROLE_ARNS."""
    parameter = TEMPLATE["Parameters"]["ReviewerRoleArns"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    listed = "arn:aws:iam::123456789012:role/imagepipe-reviewers,arn:aws:iam::123456789012:role/teams/Moderators"
    assert pattern.match("") and pattern.match(listed) and not pattern.match("arn:aws:iam::123456789012:user/dana")
    assert ReviewerRoles.parse(Settings.from_environ({"REVIEWER_ROLE_ARNS": listed}).reviewer_role_arns).admits(
        "arn:aws:sts::123456789012:assumed-role/Moderators/x1")
    readers = {name for name, spec in TEMPLATE["Resources"].items() if spec["Type"] == "AWS::Serverless::Function"
               and "REVIEWER_ROLE_ARNS" in spec["Properties"].get("Environment", {}).get("Variables", {})}
    assert readers == {"ReviewFunction"}
    assert TEMPLATE["Resources"]["ReviewFunction"]["Properties"]["Environment"]["Variables"]["REVIEWER_ROLE_ARNS"] == {
        "Ref": "ReviewerRoleArns"}


def test_the_local_stack_lists_the_role_the_console_signs_as():
    """samconfig.toml's [local] overrides list the local staff role, so the console, `imagepipe review`
    and the demo keep working against the local stack."""
    listed = ReviewerRoles.parse(samconfig_overrides(ROOT, "local")["ReviewerRoleArns"].split(","))
    assert staff_role_arn() == "arn:aws:iam::123456789012:role/imagepipe-reviewers"
    assert listed.admits(staff_principal("demo-reviewer")) and listed.admits(staff_principal("demo-legal"))
