"""Moving the platform's data from INL's AWS account to IMPACS's: course media (S3) and the
Moodle database. Each mover checks what is already at the destination and acts on the difference."""
