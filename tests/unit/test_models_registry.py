"""The model registry: every model a stack can enable has a licence and usage restrictions on record."""

from __future__ import annotations

import pytest

from imagepipe.errors import RejectedInputError
from imagepipe_tools.local import template as cfn
from imagepipe.provenance.models_registry import default_registry

from tests.conftest import ROOT


def test_every_model_the_template_can_enable_is_registered_with_its_licence():
    """GIVEN the ImageModelIds default of template.yaml THEN each id has a licence, a licence URL and
    usage restrictions, and they are the fields the provenance record receives."""
    enabled = cfn.load(ROOT / "template.yaml")["Parameters"]["ImageModelIds"]["Default"].split(",")
    registry = default_registry()
    for model_id in enabled:
        facts = registry.entry(model_id).provenance_facts()
        assert facts["model_licence"] and facts["model_licence_url"].startswith("https://")
        assert facts["model_usage_restrictions"], model_id


def test_an_unregistered_model_is_refused_as_bad_input():
    with pytest.raises(RejectedInputError) as caught:
        default_registry().entry("stability.sd3-large-v1:0")
    assert caught.value.reason == "unregistered_model"
