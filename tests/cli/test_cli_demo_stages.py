"""`medseal demo --stages` takes its stage names as a StrEnum, with the same spellings."""

from __future__ import annotations

import pytest
import typer

from medseal.cli.demo import DemoStage


def test_stage_names_parse_to_their_enum_members() -> None:
    assert DemoStage.parse(" vault, more ,") == {DemoStage.VAULT, DemoStage.MORE}
    assert DemoStage.MASKED == "masked"


def test_an_unknown_stage_is_refused_naming_it() -> None:
    with pytest.raises(typer.BadParameter, match="train"):
        DemoStage.parse("vault,train")
