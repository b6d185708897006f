"""Who may do what with an organization's mail: the one place the partner-admin restricted list lives.

Mail is business data. It is read by the organization's members, by the admins of a partner
with active delegated admin access (``delegated:PARTNER_ADMIN``, which the core grants only on
organizations with a verified domain) and by platform admins. A mapped partner without
delegated access, analysts, developers and other partners see nothing.

Writes:

- ``MANAGERS`` (add a member, create an alias, create a policy): the organization's super
  admin and admins, a partner admin with active delegated access, and platform admins (support).
- The restricted list (``RESTRICTED_ACTIONS``): only the organization's super admin. A partner
  admin with active delegated access is refused with the user error ``PARTNER_ADMIN_RESTRICTED``
  (``restricted`` below); everyone else, org admins included, gets FORBIDDEN.
- Organization members (role MEMBER) only read.

Adding a user with a role other than MEMBER is a role change: ``addMailUser`` then also
needs ``mail.change_user_role``.
"""

from __future__ import annotations

from gateway.policy import Action
from schema.access import (
    DELEGATED_ADMIN,
    ONLY_SUPER_ADMIN,
    ORG_ADMIN,
    ORG_MEMBERS,
    ORG_SUPER_ADMIN,
    PARTNER_ADMIN_RESTRICTED,
    PLATFORM_ADMIN,
)

READERS = frozenset(ORG_MEMBERS | {DELEGATED_ADMIN, PLATFORM_ADMIN})
MANAGERS = frozenset({ORG_SUPER_ADMIN, ORG_ADMIN, DELEGATED_ADMIN, PLATFORM_ADMIN})
SUPER_ADMIN_ONLY = frozenset({ORG_SUPER_ADMIN})
PARTNER_ADMIN = frozenset({DELEGATED_ADMIN})

READ = "mail.read"


def _restricted(name: str, description: str) -> Action:
    return Action(name, description, SUPER_ADMIN_ONLY, restricted=PARTNER_ADMIN,
                  restricted_code=PARTNER_ADMIN_RESTRICTED, restricted_message=ONLY_SUPER_ADMIN)


MANAGER_ACTIONS = [
    Action("mail.add_user", "add a mail user", MANAGERS),
    Action("mail.create_alias", "create a mail alias", MANAGERS),
    Action("mail.create_policy", "create a mail policy", MANAGERS),
]

RESTRICTED_ACTIONS = [
    _restricted("mail.change_super_admin", "change the mail super admin"),
    _restricted("mail.set_tfa", "change the organization's two-factor authentication setting"),
    _restricted("mail.change_user_role", "change a mail user's role"),
    _restricted("mail.set_profile_image", "change a mail user's profile image"),
    _restricted("mail.reset_password", "reset a mail user's password"),
    _restricted("mail.delete_user", "delete a mail user"),
    _restricted("mail.backup_account", "back up a mail user's account"),
    _restricted("mail.edit_dashboard", "edit the mail dashboard"),
    _restricted("mail.join_referral_program", "join the mail referral program"),
    _restricted("mail.set_contacts_sync", "change the contacts sync setting"),
]

MAIL_ACTIONS = [
    Action(READ, "read this organization's mail (business data)", READERS, mutates=False),
    *MANAGER_ACTIONS,
    *RESTRICTED_ACTIONS,
]
