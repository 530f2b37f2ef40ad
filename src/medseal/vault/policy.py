"""Who may do what: the vault's access policy, in one place.

Roles (granted per dataset, or for every dataset with ``*``):

=========== ===============================================================
owner       everything; whoever ran ``vault init``
clinician   list, show, put, and read **plaintext** images
analyst     list, show, and read **masked, encrypted or derived**
            (CKKS) representations only, never plaintext
auditor     read and verify the audit log only
=========== ===============================================================

Reading the sealed pseudonym map (original identifiers, PHI) is its own
vault-wide action, ``read-pseudonyms``, which only the owner holds; it no
longer borrows ``rotate``.

The policy is a pure function of (principal, grants, action, dataset); the
vault calls :func:`decide` before every operation and records the outcome in
the audit log, denials included. A principal with no grant at all on a
dataset cannot tell its objects from missing ones (the vault answers
"not found"), so ids cannot be probed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from medseal.errors import InvalidIdError

__all__ = [
    "ALL_DATASETS",
    "ROLE_ACTIONS",
    "Action",
    "Decision",
    "Grant",
    "Role",
    "decide",
    "validate_name",
]

ALL_DATASETS = "*"


class Role(StrEnum):
    OWNER = "owner"
    CLINICIAN = "clinician"
    ANALYST = "analyst"
    AUDITOR = "auditor"


class Action(StrEnum):
    PUT = "put"
    LIST = "list"
    SHOW = "show"
    GET_PLAINTEXT = "get-plaintext"
    GET_ENCRYPTED = "get-encrypted"
    GET_MASKED = "get-masked"
    GET_DERIVED = "get-derived"
    PUT_DERIVED = "put-derived"
    VERIFY = "verify"
    AUDIT = "audit"
    GRANT = "grant"
    ROTATE = "rotate"
    READ_PSEUDONYMS = "read-pseudonyms"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.CLINICIAN: frozenset(
        {
            Action.PUT,
            Action.LIST,
            Action.SHOW,
            Action.GET_PLAINTEXT,
            Action.GET_ENCRYPTED,
            Action.GET_MASKED,
            Action.GET_DERIVED,
            Action.PUT_DERIVED,
        }
    ),
    # Analysts never see plaintext, so they cannot make masked copies either.
    # A derived object (a CKKS ciphertext) is an encrypted representation: analysts may read it.
    Role.ANALYST: frozenset(
        {Action.LIST, Action.SHOW, Action.GET_ENCRYPTED, Action.GET_MASKED, Action.GET_DERIVED}
    ),
    Role.AUDITOR: frozenset({Action.AUDIT}),
}

# Actions that are about the vault as a whole rather than one dataset.
VAULT_WIDE = frozenset(
    {Action.VERIFY, Action.AUDIT, Action.GRANT, Action.ROTATE, Action.READ_PSEUDONYMS}
)


@dataclass(frozen=True)
class Grant:
    principal: str
    role: Role
    dataset: str  # a dataset name or ALL_DATASETS


@dataclass(frozen=True)
class Decision:
    allowed: bool
    visible: bool  # False: the principal may not even learn the dataset's objects exist
    reason: str


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def validate_name(value: str, what: str) -> str:
    """Principal and dataset names: 1-64 of ``[A-Za-z0-9_.@-]``, no leading punctuation."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):  # "olivia\n" is refused
        raise InvalidIdError(
            f"invalid {what} name: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return value


def decide(
    principal: str,
    grants: Iterable[Grant],
    action: Action | str,
    dataset: str | None = None,
    *,
    owner: str,
) -> Decision:
    """Decide whether ``principal`` may perform ``action`` on ``dataset``.

    ``dataset`` is ``None`` for vault-wide actions (verify, audit, grant, rotate).
    """
    action = Action(action)
    if principal == owner:
        return Decision(True, True, "vault owner")
    mine = [g for g in grants if g.principal == principal]
    if action in VAULT_WIDE or dataset is None:
        relevant = [g for g in mine if g.dataset == ALL_DATASETS]
    else:
        relevant = [g for g in mine if g.dataset in (dataset, ALL_DATASETS)]
    visible = bool(relevant)
    for g in relevant:
        if action in ROLE_ACTIONS[g.role]:
            return Decision(True, True, f"role {g.role.value}")
    if not mine:
        return Decision(False, False, f"{principal!s} has no grant in this vault")
    roles = ", ".join(sorted({g.role.value for g in relevant})) or "none on this dataset"
    return Decision(False, visible, f"action {action.value} is not allowed for role(s): {roles}")
