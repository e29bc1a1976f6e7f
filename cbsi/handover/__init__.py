"""The handover readiness check: is IMPACS ready to run CBSI-Connect alone? Each check gathers
evidence from the live account (boto3), the repository and the stack's config, and says what to do
when it fails. `cbsi handover check` runs them; runbooks/handover.md is the procedure around it."""
