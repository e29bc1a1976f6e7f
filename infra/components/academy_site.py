"""One Moodle sub-site per registry entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components.academy_access import AcademyAccess, AcademyAccessArgs
from infra.components.lms_cluster import APP_PORT, DB_PORT, REDIS_PORT, LmsCluster
from infra.components.media_store import academy_prefix, reader_policy, uploader_policy
from infra.config import Academy, TierSize
from infra.iam import service_trust

DATAROOT = "/var/www/moodledata"
WWW_DATA_UID = 33  # Debian's www-data, which Apache runs Moodle as in moodlehq/moodle-php-apache
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


@dataclass(frozen=True)
class MoodleSettings:
    """The per-site names that keep sub-sites apart on the shared database and Redis.

    Slugs are DNS labels (no underscore), so `<slug>_` can never be the start of another
    academy's prefix: two sites cannot read each other's sessions or cache entries.
    """

    database: str
    db_user: str
    site_identifier: str
    session_prefix: str
    cache_prefix: str

    @classmethod
    def of(cls, academy: Academy, environment: str) -> MoodleSettings:
        ident = academy.slug.replace("-", "_")
        return cls(
            database=f"moodle_{ident}",
            db_user=f"moodle_{ident}",
            site_identifier=f"cbsi-{environment}-{academy.slug}",
            session_prefix=f"sess_{academy.slug}_",
            cache_prefix=f"muc_{academy.slug}_",
        )


def notice_page(academy: Academy) -> str:
    """What an offboarded academy's address shows (an ALB fixed response: 1 KB at most)."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{academy.name}</title></head><body>"
        f"<h1>{academy.name}</h1><p>This CBSI-Connect site is no longer in service. "
        "Its courses and records are kept. For access, contact CARICOM IMPACS.</p></body></html>"
    )


@dataclass(frozen=True)
class MediaAccess:
    """What a site needs to know about the media bucket."""

    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    account_id: str


@dataclass(frozen=True)
class AcademySiteArgs:
    """The registry entry and what the platform decides for it."""

    academy: Academy
    environment: str
    region: str
    size: TierSize
    cluster: LmsCluster
    zone_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Output[str]]
    image: pulumi.Input[str]
    media: MediaAccess
    listener_priority: int
    log_retention_days: int
    production: bool
    tags: dict[str, str]
    # The stewardship boundary, carried by every role the site creates.
    permissions_boundary: pulumi.Input[str]
    # Who may act as the site's admins in this phase (Stewardship.academy_trust).
    admin_trust_policy: str
    # The academy's monthly budget (USD), or None; alerts go to these addresses.
    budget_usd: float | None
    budget_emails: list[str]


class AcademySite(pulumi.ComponentResource):
    """Everything one academy owns, tagged `academy=<slug>` so its cost and its data are its own.

    Its own host rule, target group, ECS service (Moodle plus a cron sidecar), DNS record, EFS
    access point, database and role (created inside the VPC by the task's bootstrap container, so
    `pulumi up` never needs a route to PostgreSQL), secrets and log group. An `offboarded`
    academy scales to zero and its address serves a notice; its data is kept (`retain_on_delete`
    on every stateful resource, `protect` too in prod).
    """

    def __init__(
        self, name: str, args: AcademySiteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:lms:AcademySite", name, None, opts)
        self._name, self._args = name, args
        academy = args.academy
        self.settings = MoodleSettings.of(academy, args.environment)
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True, protect=args.production)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/cbsi/{args.environment}/academies/{academy.slug}",
            retention_in_days=args.log_retention_days,
            tags=self._tagged("logs"),
            # Logs are evidence: a registry change never deletes them.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        access_point = aws.efs.AccessPoint(
            f"{name}-moodledata",
            file_system_id=args.cluster.file_system_id,
            posix_user={"uid": WWW_DATA_UID, "gid": WWW_DATA_UID},
            root_directory={
                "path": f"/academies/{academy.slug}",
                "creation_info": {
                    "owner_uid": WWW_DATA_UID,
                    "owner_gid": WWW_DATA_UID,
                    "permissions": "0750",
                },
            },
            tags=self._tagged("moodledata"),
            opts=keep,
        )
        db_secret, admin_secret = self._secrets(keep)
        execution_role, task_role = self._roles(access_point, [db_secret.arn, admin_secret.arn])
        task_definition = self._task_definition(
            log_group, access_point, db_secret, admin_secret, execution_role, task_role
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=APP_PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "path": "/login/index.php",  # a real Moodle page: PHP, database and sessions
                "matcher": "200",
                "interval": 30,
                "timeout": 10,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags=self._tagged("tg"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._routing(target_group)
        self._service(task_definition, target_group)
        self._media(task_role)
        access = AcademyAccess(
            f"{name}-access",
            AcademyAccessArgs(
                slug=academy.slug,
                academy_name=academy.name,
                environment=args.environment,
                region=args.region,
                account_id=args.media.account_id,
                trust_policy=args.admin_trust_policy,
                permissions_boundary=args.permissions_boundary,
                log_group_name=log_group.name,
                budget_usd=args.budget_usd,
                budget_emails=args.budget_emails,
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.site_admin_role_arn = access.site_admin_role_arn
        self.budget_name = access.budget_name

        self.log_group_name = log_group.name
        self.target_group_arn_suffix = target_group.arn_suffix
        self.access_point_id = access_point.id
        self.db_secret_arn = db_secret.arn
        self.register_outputs(
            {
                "logGroupName": self.log_group_name,
                "accessPointId": self.access_point_id,
                "serviceName": self.service_name,
                "targetGroupArn": target_group.arn,
                "database": self.settings.database,
                "dbSecretArn": self.db_secret_arn,
                "uploaderRoleArn": self.uploader_role_arn,
                "siteAdminRoleArn": self.site_admin_role_arn,
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _media(self, task_role: aws.iam.Role) -> None:
        """The site reads its own media prefix; its content contributors (people, with MFA)
        assume the uploader role to write there and nowhere else."""
        name, media, slug = self._name, self._args.media, self._args.academy.slug
        aws.iam.RolePolicy(
            f"{name}-task-media",
            role=task_role.id,
            policy=pulumi.Output.all(media.bucket_arn, media.key_arn).apply(
                lambda v: json.dumps(reader_policy(v[0], v[1], slug))
            ),
            opts=pulumi.ResourceOptions(parent=task_role),
        )
        uploader = aws.iam.Role(
            f"{name}-uploader",
            description=f"Content contributors of {self._args.academy.name}: "
            f"s3://.../{academy_prefix(slug)}",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{media.account_id}:root"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                        }
                    ],
                }
            ),
            max_session_duration=4 * 3600,
            permissions_boundary=self._args.permissions_boundary,
            tags=self._tagged("uploader"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-uploader",
            role=uploader.id,
            policy=pulumi.Output.all(media.bucket_arn, media.key_arn).apply(
                lambda v: json.dumps(uploader_policy(v[0], v[1], slug))
            ),
            opts=pulumi.ResourceOptions(parent=uploader),
        )
        self.uploader_role_arn = uploader.arn

    def _secrets(
        self, keep: pulumi.ResourceOptions
    ) -> tuple[aws.secretsmanager.Secret, aws.secretsmanager.Secret]:
        """The site's database login and its Moodle admin password and upgrade key."""
        name, settings = self._name, self.settings
        child = pulumi.ResourceOptions(parent=self)
        db_password = random.RandomPassword(
            f"{name}-db-password", length=40, special=False, opts=child
        )
        admin_password = random.RandomPassword(f"{name}-admin-password", length=24, opts=child)
        upgrade_key = random.RandomPassword(
            f"{name}-upgrade-key", length=32, special=False, opts=child
        )
        db_secret = aws.secretsmanager.Secret(
            f"{name}-db",
            description=f"Database login of the {self._args.academy.name} Moodle site",
            recovery_window_in_days=30,
            tags=self._tagged("db"),
            opts=keep,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-db",
            secret_id=db_secret.id,
            secret_string=pulumi.Output.json_dumps(
                {
                    "dbname": settings.database,
                    "username": settings.db_user,
                    "password": db_password.result,
                }
            ),
            opts=pulumi.ResourceOptions(parent=db_secret),
        )
        admin_secret = aws.secretsmanager.Secret(
            f"{name}-admin",
            description=f"Moodle admin password and upgrade key of {self._args.academy.name}",
            recovery_window_in_days=30,
            tags=self._tagged("admin"),
            opts=keep,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-admin",
            secret_id=admin_secret.id,
            secret_string=pulumi.Output.json_dumps(
                {"password": admin_password.result, "upgradeKey": upgrade_key.result}
            ),
            opts=pulumi.ResourceOptions(parent=admin_secret),
        )
        return db_secret, admin_secret

    def _roles(
        self, access_point: aws.efs.AccessPoint, own_secrets: list[pulumi.Output[str]]
    ) -> tuple[aws.iam.Role, aws.iam.Role]:
        """Execution role (pull the image, read exactly this site's secrets) and task role
        (mount only this site's access point; ECS Exec for runbooks)."""
        name, cluster = self._name, self._args.cluster
        child = pulumi.ResourceOptions(parent=self)
        trust = service_trust("ecs-tasks.amazonaws.com")
        execution = aws.iam.Role(
            f"{name}-execution",
            permissions_boundary=self._args.permissions_boundary,
            assume_role_policy=trust,
            tags=self._tagged("execution"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution-managed",
            role=execution.name,
            policy_arn=EXECUTION_POLICY,
            opts=pulumi.ResourceOptions(parent=execution),
        )
        secrets = [*own_secrets, cluster.db_master_secret_arn, cluster.redis_auth_secret_arn]
        aws.iam.RolePolicy(
            f"{name}-execution-secrets",
            role=execution.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": secrets,
                        }
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=execution),
        )
        task = aws.iam.Role(
            f"{name}-task",
            assume_role_policy=trust,
            permissions_boundary=self._args.permissions_boundary,
            tags=self._tagged("task"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-task-efs",
            role=task.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "elasticfilesystem:ClientMount",
                                "elasticfilesystem:ClientWrite",
                            ],
                            "Resource": cluster.file_system_arn,
                            "Condition": {
                                "StringEquals": {
                                    "elasticfilesystem:AccessPointArn": access_point.arn
                                }
                            },
                        },
                        {
                            # ECS Exec (runbooks' shell into a task); these actions have no
                            # resource-level permissions.
                            "Effect": "Allow",
                            "Action": [
                                "ssmmessages:CreateControlChannel",
                                "ssmmessages:CreateDataChannel",
                                "ssmmessages:OpenControlChannel",
                                "ssmmessages:OpenDataChannel",
                            ],
                            "Resource": "*",
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=task),
        )
        self.task_role = task
        return execution, task

    def _task_definition(
        self,
        log_group: aws.cloudwatch.LogGroup,
        access_point: aws.efs.AccessPoint,
        db_secret: aws.secretsmanager.Secret,
        admin_secret: aws.secretsmanager.Secret,
        execution_role: aws.iam.Role,
        task_role: aws.iam.Role,
    ) -> aws.ecs.TaskDefinition:
        args, academy = self._args, self._args.academy
        cluster = args.cluster
        values = pulumi.Output.all(
            image=args.image,
            db_host=cluster.db_address,
            redis_host=cluster.redis_host,
            db_secret=db_secret.arn,
            admin_secret=admin_secret.arn,
            master_secret=cluster.db_master_secret_arn,
            redis_secret=cluster.redis_auth_secret_arn,
            log_group=log_group.name,
        )
        containers = values.apply(lambda v: json.dumps(self._containers(v)))
        return aws.ecs.TaskDefinition(
            f"{self._name}-task",
            family=f"cbsi-{args.environment}-{academy.slug}",
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(args.size.cpu),
            memory=str(args.size.memory),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            container_definitions=containers,
            volumes=[
                {
                    "name": "moodledata",
                    "efs_volume_configuration": {
                        "file_system_id": cluster.file_system_id,
                        "transit_encryption": "ENABLED",
                        "authorization_config": {
                            "access_point_id": access_point.id,
                            "iam": "ENABLED",
                        },
                    },
                }
            ],
            tags=self._tagged("task"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _containers(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        """Container definitions: secrets are Secrets Manager references, never values."""
        args, academy, settings = self._args, self._args.academy, self.settings
        environment = {
            "MOODLE_WWWROOT": f"https://{academy.hostname}",
            "MOODLE_DATAROOT": DATAROOT,
            "MOODLE_DB_HOST": v["db_host"],
            "MOODLE_DB_PORT": str(DB_PORT),
            "MOODLE_DB_NAME": settings.database,
            "MOODLE_DB_USER": settings.db_user,
            "MOODLE_LANG": academy.default_language,
            "MOODLE_LANGS": ",".join(academy.languages),
            "MOODLE_SITE_NAME": academy.name,
            "MOODLE_SITE_SHORTNAME": academy.slug,
            "MOODLE_ADMIN_EMAIL": str(academy.admins[0].email),
            "MOODLE_SITE_IDENTIFIER": settings.site_identifier,
            "MOODLE_REDIS_HOST": v["redis_host"],
            "MOODLE_REDIS_PORT": str(REDIS_PORT),
            "MOODLE_SESSION_PREFIX": settings.session_prefix,
            "MOODLE_CACHE_PREFIX": settings.cache_prefix,
        }
        env = [{"name": k, "value": val} for k, val in sorted(environment.items())]
        site_secrets = [
            {"name": "MOODLE_DB_PASSWORD", "valueFrom": f"{v['db_secret']}:password::"},
            {"name": "MOODLE_REDIS_AUTH", "valueFrom": v["redis_secret"]},
            {"name": "MOODLE_UPGRADE_KEY", "valueFrom": f"{v['admin_secret']}:upgradeKey::"},
        ]
        mount = [{"sourceVolume": "moodledata", "containerPath": DATAROOT}]

        def logs(prefix: str) -> dict[str, Any]:
            return {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": v["log_group"],
                    "awslogs-region": args.region,
                    "awslogs-stream-prefix": prefix,
                },
            }

        after_bootstrap = [{"containerName": "bootstrap", "condition": "SUCCESS"}]
        return [
            {
                # Creates the site's database and role if missing, and installs Moodle into an
                # empty database. It never upgrades: upgrades are a runbook step.
                "name": "bootstrap",
                "image": v["image"],
                "essential": False,
                "command": ["cbsi-bootstrap"],
                "environment": env,
                "secrets": [
                    *site_secrets,
                    {"name": "PGUSER", "valueFrom": f"{v['master_secret']}:username::"},
                    {"name": "PGPASSWORD", "valueFrom": f"{v['master_secret']}:password::"},
                    {
                        "name": "MOODLE_ADMIN_PASSWORD",
                        "valueFrom": f"{v['admin_secret']}:password::",
                    },
                ],
                "mountPoints": mount,
                "logConfiguration": logs("bootstrap"),
            },
            {
                "name": "moodle",
                "image": v["image"],
                "essential": True,
                "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
                "environment": env,
                "secrets": site_secrets,
                "mountPoints": mount,
                "dependsOn": after_bootstrap,
                "logConfiguration": logs("moodle"),
            },
            {
                # Moodle's cron in a loop (`cron.php --keep-alive`) beside the web server: no
                # extra task to pay for, and Moodle's task locks make one per task safe.
                "name": "cron",
                "image": v["image"],
                "essential": False,
                "command": ["cbsi-cron"],
                "environment": env,
                "secrets": site_secrets,
                "mountPoints": mount,
                "dependsOn": after_bootstrap,
                "logConfiguration": logs("cron"),
            },
        ]

    def _routing(self, target_group: aws.lb.TargetGroup) -> None:
        """Host rule on the shared HTTPS listener and the site's DNS record."""
        args, academy = self._args, self._args.academy
        cluster = args.cluster
        if academy.status == "offboarded":
            action: dict[str, Any] = {
                "type": "fixed-response",
                "fixed_response": {
                    "content_type": "text/html",
                    "status_code": "503",
                    "message_body": notice_page(academy),
                },
            }
        else:
            action = {"type": "forward", "target_group_arn": target_group.arn}
        aws.lb.ListenerRule(
            f"{self._name}-rule",
            listener_arn=cluster.https_listener_arn,
            priority=args.listener_priority,
            conditions=[{"host_header": {"values": [academy.hostname]}}],
            actions=[action],
            tags=self._tagged("rule"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.route53.Record(
            f"{self._name}-dns",
            zone_id=args.zone_id,
            name=academy.hostname,
            type="A",
            aliases=[
                {
                    "name": cluster.alb_dns_name,
                    "zone_id": cluster.alb_zone_id,
                    "evaluate_target_health": True,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service(
        self, task_definition: aws.ecs.TaskDefinition, target_group: aws.lb.TargetGroup
    ) -> None:
        args, size = self._args, self._args.size
        cluster = args.cluster
        serving = args.academy.status != "offboarded"
        low, high = (size.min_tasks, size.max_tasks) if serving else (0, 0)
        service = aws.ecs.Service(
            f"{self._name}-service",
            cluster=cluster.cluster_arn,
            task_definition=task_definition.arn,
            desired_count=low,
            launch_type="FARGATE",
            network_configuration={
                "subnets": args.private_subnet_ids,
                "security_groups": [cluster.app_sg.id],
                "assign_public_ip": False,
            },
            load_balancers=[
                {
                    "target_group_arn": target_group.arn,
                    "container_name": "moodle",
                    "container_port": APP_PORT,
                }
            ],
            # A first install runs in the bootstrap container before the web server is up.
            health_check_grace_period_seconds=600,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            enable_execute_command=True,
            propagate_tags="SERVICE",
            tags=self._tagged("service"),
            # Autoscaling owns the running count once the service exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCount"]),
        )
        target = aws.appautoscaling.Target(
            f"{self._name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.cluster_name, "/", service.name),
            min_capacity=low,
            max_capacity=high,
            tags=self._tagged("scaling"),
            opts=pulumi.ResourceOptions(parent=service),
        )
        aws.appautoscaling.Policy(
            f"{self._name}-cpu",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": 60,
                "predefined_metric_specification": {
                    "predefined_metric_type": "ECSServiceAverageCPUUtilization"
                },
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
            opts=pulumi.ResourceOptions(parent=target),
        )
        self.service_name = service.name
