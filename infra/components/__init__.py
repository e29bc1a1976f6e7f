"""One Pulumi ComponentResource per module; type tokens are `cbsi:<area>:<Name>`."""
