"""Who counts as staff on the review API: sessions of the reviewer roles the template lists.

AWS_IAM on the review Function URL proves who signed a request, not that they are staff:
any principal of the account allowed ``lambda:InvokeFunctionUrl`` (an administrator, another
function's role) would get through. The allowlist (template parameter ``ReviewerRoleArns``)
names IAM roles; a request counts as staff when its principal is a session of one of them,
``arn:aws:sts::{account}:assumed-role/{role name}/{session}``. Role ARNs may carry a path,
which assumed-role ARNs drop, so a role is matched by partition, account and name. IAM users
and anything else are refused. An empty list admits nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ConfigurationError

_NAME = r"[A-Za-z0-9_+=,.@-]{1,64}"
_ROLE_ARN = re.compile(rf"^arn:(aws[a-z-]*):iam::(\d{{12}}):role/(?:[A-Za-z0-9_+=,.@-]+/)*({_NAME})$")
_ASSUMED_ROLE_ARN = re.compile(rf"^arn:(aws[a-z-]*):sts::(\d{{12}}):assumed-role/({_NAME})/[A-Za-z0-9_+=,.@-]{{2,64}}$")


@dataclass(frozen=True)
class ReviewerRoles:
    """The IAM roles whose sessions may list, decide and take down: ``(partition, account, name)``."""

    roles: frozenset[tuple[str, str, str]] = frozenset()

    @classmethod
    def parse(cls, role_arns: Iterable[str]) -> ReviewerRoles:
        """The allowlist from IAM role ARNs (``arn:aws:iam::123456789012:role/path/Name``).

        Raises
        ------
        ConfigurationError
            If an entry is not an IAM role ARN (an assumed-role or user ARN, a bare name).
        """
        roles = set()
        for arn in role_arns:
            match = _ROLE_ARN.match(arn.strip())
            if match is None:
                raise ConfigurationError(f"REVIEWER_ROLE_ARNS: {arn!r} is not an IAM role ARN")
            roles.add((match[1], match[2], match[3]))
        return cls(frozenset(roles))

    def admits(self, principal_arn: str | None) -> bool:
        """True when ``principal_arn`` (``requestContext.authorizer.iam.userArn``) is a reviewer role's session."""
        match = _ASSUMED_ROLE_ARN.match(principal_arn or "")
        return match is not None and (match[1], match[2], match[3]) in self.roles
