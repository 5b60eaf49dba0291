"""vapiops.model: addresses, reasons as people read them, step phases, and the plan document's two lists."""

from __future__ import annotations

import pytest

from vapiops.errors import VapiopsError
from vapiops.flows.imports import check_address
from vapiops.model import Action, Address, Change, Phase, Plan, Reason, Step

ADDRESSES = [  # (text, parsed or None when refused)
    ("assistant/support", ("assistant", "support")),
    ("tool/lookup-order.v2_b", ("tool", "lookup-order.v2_b")),
    (
        "tool/x.replaced-0b9c7f3e-1111-4111-8111-111111111111",
        ("tool", "x.replaced-0b9c7f3e-1111-4111-8111-111111111111"),
    ),
    ("assistant", None),
    ("assistant/", None),
    ("/support", None),
    ("assistant/../../x y", None),
    ("assistant/$(id)", None),
    ("assistant/-leading-dash", None),
]


@pytest.mark.parametrize(("text", "parsed"), ADDRESSES)
def test_address_parse_follows_the_name_rules(text, parsed):
    if parsed is None:
        with pytest.raises(ValueError):
            Address.parse(text)
    else:
        assert tuple(Address.parse(text)) == parsed
        assert str(Address.parse(text)) == text


@pytest.mark.parametrize("text", ["assistant/$(id)", "assistant/../../x y", "robot/x", "tool"])
def test_import_and_state_mv_refuse_what_is_not_an_address(text):
    with pytest.raises(VapiopsError) as info:
        check_address(text)
    assert "not an address" in info.value.message and "KIND/NAME" in (info.value.hint or "")


def test_check_address_returns_kind_and_name():
    assert check_address("squad/desk") == ("squad", "desk")


REASONS = [  # (reason, detail, note, text)
    (None, None, None, None),
    (Reason.CANNOT_UPDATE, "type", None, "type cannot change in place"),
    (
        Reason.CANNOT_UPDATE,
        "type",
        "lifecycle.preventDestroy is set",
        "type cannot change in place; lifecycle.preventDestroy is set",
    ),
    (Reason.REPOINT, "repoint to replaced tool/x", None, "repoint to replaced tool/x"),
    (Reason.DEPOSED, "tool/x", None, "old copy left by the replace of tool/x"),
    (Reason.DELETED_OUTSIDE, None, None, "deleted outside vapiops"),
    (Reason.CHANGED_OUTSIDE, None, None, "changed outside vapiops"),
    (None, None, "deleted from the manifests", "deleted from the manifests"),
]


@pytest.mark.parametrize(("reason", "detail", "note", "text"), REASONS)
def test_reason_text(reason, detail, note, text):
    change = Change("tool/x", "tool", "x", Action.UPDATE, "id-1", reason=reason, detail=detail, note=note)
    assert change.reason_text == text
    assert change.to_dict()["reason"] == text


PHASES = [  # (phase, HTTP method, records in the address's own state entry)
    (Phase.CREATE, "POST", True),
    (Phase.LINK, "PATCH", True),
    (Phase.UPDATE, "PATCH", True),
    (Phase.REPOINT, "PATCH", True),
    (Phase.DELETE, "DELETE", True),
    (Phase.DELETE_DEPOSED, "DELETE", False),
]


@pytest.mark.parametrize(("phase", "method", "records"), PHASES)
def test_step_phase(phase, method, records):
    step = Step(phase, "tool/x", "tool")
    assert (step.phase.method, step.phase.records) == (method, records)
    assert step.key == f"{phase.value}:tool/x"


def test_drift_is_not_a_change():
    drifted = Change("tool/x", "tool", "x", Action.DELETE, "id-1", reason=Reason.DELETED_OUTSIDE)
    plan = Plan("dev", drift=[drifted], refresh_only=True)
    doc = plan.to_dict()
    assert doc["changes"] == [] and doc["drift"][0]["reason"] == "deleted outside vapiops"
    assert plan.summary == {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    assert not plan.is_empty  # --detailed-exitcode reports drift as pending
    assert Plan("dev").is_empty
