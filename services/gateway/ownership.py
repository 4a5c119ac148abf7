"""Who may act on which object: the one place for the owner rule and the device rule.

Refusals are 403 with a reason rather than 404: the model catalog is readable by every signed-in user
(anyone may call a model by `owner/name`), so hiding a model's existence from a caller who may not
manage it would hide nothing, and the reason tells the caller what to do instead.
"""

from __future__ import annotations

from canopy.apps.records import AppInstance
from canopy.errors import Forbidden
from canopy.models import ModelRecord
from canopy.roles import Role
from services.gateway.accounts import Principal


def may_manage(principal: Principal, owner_id: int | None) -> bool:
    """Whether the caller may change an object owned by `owner_id` (its owner, or any platform_admin)."""
    return principal.role is Role.PLATFORM_ADMIN or (owner_id is not None and owner_id == principal.user_id)


def require_model_manager(principal: Principal, record: ModelRecord, action: str) -> None:
    """Forbidden unless the caller owns the model or is a platform_admin."""
    if not may_manage(principal, record.owner_id):
        owner = record.owner.name if record.owner else "a removed user"
        raise Forbidden(
            f"model {record.id} ({record.name}) belongs to {owner}; only its owner or a platform_admin "
            f"may {action} it"
        )


def may_use_device(principal: Principal, device_id: str) -> bool:
    """Whether the caller may read, stream or command device `device_id` directly.

    Today only platform_admin may; workloads will get exactly the devices bound to them (apps issue),
    and that rule goes here. End users and developers reach devices only through such workloads.
    """
    return principal.role is Role.PLATFORM_ADMIN


def require_device_user(principal: Principal, device_id: str) -> None:
    """Forbidden unless the caller may use the device; checked before the device is looked up."""
    if not may_use_device(principal, device_id):
        raise Forbidden(
            f"role {principal.role.value} has no direct access to devices; devices are read and "
            "commanded by a platform_admin or by the workloads they are bound to"
        )


def may_run_instance(principal: Principal, instance: AppInstance) -> bool:
    """Whether the caller may start, stop or inspect an instance: its owner, its app's developer, an admin."""
    return may_manage(principal, instance.owner_id) or (
        instance.app.owner_id is not None and instance.app.owner_id == principal.user_id
    )


def require_instance_runner(principal: Principal, instance: AppInstance, action: str) -> None:
    """Forbidden unless the caller owns the instance, developed its app, or is a platform_admin."""
    if not may_run_instance(principal, instance):
        raise Forbidden(
            f"app instance {instance.id} belongs to another user; only its owner, the app's developer "
            f"or a platform_admin may {action} it"
        )


def require_page_viewer(principal: Principal, instance: AppInstance) -> None:
    """Forbidden unless the caller is the user the instance runs for (its owner) or a platform_admin."""
    if not may_manage(principal, instance.owner_id):
        raise Forbidden(
            f"the page of app instance {instance.id} is open only to the user it runs for and to "
            "platform_admin"
        )
