"""Every check, registered in id order by importing its module."""

from cbsi.handover import checks_account, checks_platform  # noqa: F401
