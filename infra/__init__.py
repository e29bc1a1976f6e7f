"""The CBSI-Connect Pulumi program: typed stack config, components, the platform document."""
