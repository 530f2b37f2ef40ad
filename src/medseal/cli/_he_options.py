"""Options shared by `medseal he train` and `medseal evaluate he`: the CKKS study's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from medseal.cli._common import choice
from medseal.errors import InputError

if TYPE_CHECKING:
    from medseal.evaluate import HEStudyConfig

__all__ = ["DataOpt", "study_config"]

DataOpt = Annotated[
    str, typer.Option("--data", help="pneumoniamnist, nih-chestxray14 or embedded.")
]


def study_config(
    *, data: str, profile: str = "128", conv2: str | None = None, **fields: Any
) -> HEStudyConfig:
    """The study's settings from command-line values (enums checked, ``--conv2`` parsed)."""
    from medseal.evaluate import HEData, HEStudyConfig
    from medseal.privacy.ckks import ProfileName

    second: tuple[int, int, int] | None = None
    if conv2:
        try:
            c, k, st = (int(v) for v in conv2.split(","))
        except ValueError:
            raise InputError("--conv2 is 'channels,kernel,stride', e.g. 8,3,2") from None
        second = (c, k, st)
    return HEStudyConfig(
        data=choice(HEData, data, "--data"),
        profile=choice(ProfileName, profile, "--profile"),
        conv2=second,
        **fields,
    )
