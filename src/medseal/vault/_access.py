"""The policy applied: every access decision, its audit entry on refusal, and grants.

:mod:`~medseal.vault.policy` decides (a pure function); this module asks it
with the catalogue's grants, records refusals in the audit trail, and answers
"not found" where the principal may not learn that an object exists.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from medseal.errors import AccessDenied, InputError, IntegrityError, NotFoundError
from medseal.vault._catalog_repo import Catalog, ObjectInfo
from medseal.vault._objects import info as row_info
from medseal.vault.manifest import check_id
from medseal.vault.policy import ALL_DATASETS, Action, Grant, Role, decide, validate_name

if TYPE_CHECKING:  # pragma: no cover
    from medseal.vault.vault import Vault

__all__ = ["authorize", "grant", "lookup", "require_kind", "revoke"]


def authorize(
    vault: Vault,
    as_: str,
    action: Action,
    dataset: str | None = None,
    target: str | None = None,
    *,
    hide: bool = True,
) -> None:
    """Refuse (and audit) ``action`` unless the policy allows it to ``as_``.

    A principal who may not even see ``dataset`` gets :class:`NotFoundError`
    for ``target`` (``hide``), so ids cannot be probed.
    """
    validate_name(as_, "principal")
    with vault.catalog.connect() as conn:
        decision = decide(as_, Catalog.grants(conn), action, dataset, owner=vault.owner)
    if decision.allowed:
        return
    vault._record(
        as_, action.value, "denied", dataset=dataset, target=target,
        detail={"reason": decision.reason},
    )  # fmt: skip
    if hide and target is not None and not decision.visible:
        raise NotFoundError(f"no object {target}")
    raise AccessDenied(f"{as_} may not {action.value}: {decision.reason}")


def lookup(vault: Vault, object_id: str, as_: str, action: Action) -> ObjectInfo:
    """The checked catalogue facts of ``object_id``, once ``as_`` may ``action`` it."""
    check_id(object_id)
    validate_name(as_, "principal")
    with vault.catalog.connect() as conn:
        row = Catalog.object_row(conn, object_id)
    if row is None:
        vault._record(as_, action.value, "not-found", target=object_id)
        raise NotFoundError(f"no object {object_id}")
    try:
        info = row_info(vault, row)  # before the policy reads the dataset from the row
    except IntegrityError:
        vault._record(as_, action.value, "tampered", target=object_id)
        raise
    authorize(vault, as_, action, info.dataset, object_id)
    return info


def require_kind(
    vault: Vault, info: ObjectInfo, kinds: Collection[str], as_: str, action: str
) -> None:
    """Refuse (and audit) an object whose kind is not one of ``kinds``."""
    if info.kind in kinds:
        return
    expected = " or ".join(sorted(kinds))
    vault._record(
        as_, action, "denied", dataset=info.dataset, target=info.id,
        detail={"reason": f"kind {info.kind} is not {expected}"},
    )  # fmt: skip
    raise InputError(f"object {info.id} is a {info.kind} object, not {expected}")


def grant(vault: Vault, principal: str, role: Role | str, dataset: str, as_: str) -> Grant:
    """Give ``principal`` ``role`` on ``dataset`` (auditors always get every dataset)."""
    validate_name(principal, "principal")
    the_role = Role(role)
    if dataset != ALL_DATASETS:
        validate_name(dataset, "dataset")
    if the_role is Role.AUDITOR:
        dataset = ALL_DATASETS
    authorize(vault, as_, Action.GRANT)
    with vault._tx("record the grant") as conn:
        Catalog.add_grant(conn, principal, the_role, dataset, as_)
        vault._record(
            as_, "grant", "ok", dataset=None if dataset == ALL_DATASETS else dataset,
            target=principal, detail={"role": the_role.value, "dataset": dataset}, conn=conn,
        )  # fmt: skip
    return Grant(principal, the_role, dataset)


def revoke(
    vault: Vault, principal: str, role: Role | str | None, dataset: str | None, as_: str
) -> int:
    """Remove ``principal``'s grants (all, or those of ``role`` and/or ``dataset``)."""
    validate_name(principal, "principal")
    authorize(vault, as_, Action.GRANT)
    the_role = None if role is None else Role(role)
    with vault._tx("revoke the grant") as conn:
        n = Catalog.remove_grants(conn, principal, the_role, dataset)
        vault._record(
            as_, "revoke", "ok", target=principal,
            detail={
                "role": None if the_role is None else the_role.value,
                "dataset": dataset, "removed": n,
            },
            conn=conn,
        )  # fmt: skip
    return n
