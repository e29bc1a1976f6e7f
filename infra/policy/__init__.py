"""The CBSI-Connect security baseline: a Pulumi CrossGuard policy pack (`infra/policy/`)."""
