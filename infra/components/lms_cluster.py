"""The Moodle cluster every academy sub-site shares."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components.secure_bucket import SecureBucket, SecureBucketArgs
from infra.config import LmsConfig

# Moodle's PostgreSQL settings (RDS parameter group, family postgres16). Static ones apply at
# the next reboot, in the maintenance window.
DB_PARAMETERS: dict[str, tuple[str, str]] = {
    "rds.force_ssl": ("1", "immediate"),  # only TLS connections
    "random_page_cost": ("1.1", "immediate"),  # gp3 SSD storage, not spinning disks
    "log_min_duration_statement": ("2000", "immediate"),  # log queries slower than 2 s
    "idle_in_transaction_session_timeout": ("600000", "immediate"),  # free stuck cron locks
    "work_mem": ("16384", "immediate"),  # KB; Moodle's report and grade queries sort a lot
    "max_connections": ("400", "pending-reboot"),  # ~19 sites x tasks x (web + cron)
}
DB_ENGINE_VERSION = "16"
DB_PORT = 5432
REDIS_PORT = 6379
APP_PORT = 80


@dataclass(frozen=True)
class LmsClusterArgs:
    """What the cluster builds on: the network, the zone's certificate, and the LMS sizing."""

    environment: str
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    certificate_arn: pulumi.Input[str]
    lms: LmsConfig
    log_retention_days: int
    # Prod: deletion protection, final snapshots, `protect` on stateful resources.
    production: bool
    tags: dict[str, str]


class LmsCluster(pulumi.ComponentResource):
    """Load balancer, ECS cluster, image repository, PostgreSQL, moodledata (EFS) and Redis.

    Each tier's security group admits only the tier in front of it: the internet reaches the
    load balancer on 443 and 80 (redirected), the load balancer reaches the app on 80, and only
    the app reaches PostgreSQL, EFS and Redis.
    """

    def __init__(
        self, name: str, args: LmsClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:lms:LmsCluster", name, None, opts)
        self._name, self._args = name, args
        self._security_groups()
        self._load_balancer()
        self._image_repository()
        self._database()
        self._moodledata()
        self._redis()
        cluster = aws.ecs.Cluster(
            f"{name}-ecs",
            settings=[{"name": "containerInsights", "value": "enabled"}],
            tags=self._tagged("ecs"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.register_outputs(
            {
                "albArn": self.alb_arn,
                "albDnsName": self.alb_dns_name,
                "httpsListenerArn": self.https_listener_arn,
                "clusterName": self.cluster_name,
                "repositoryUrl": self.repository_url,
                "dbAddress": self.db_address,
                "dbMasterSecretArn": self.db_master_secret_arn,
                "fileSystemId": self.file_system_id,
                "redisHost": self.redis_host,
                "redisAuthSecretArn": self.redis_auth_secret_arn,
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _security_groups(self) -> None:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)

        def group(suffix: str, description: str) -> aws.ec2.SecurityGroup:
            return aws.ec2.SecurityGroup(
                f"{name}-{suffix}-sg",
                vpc_id=args.vpc_id,
                description=description,
                tags=self._tagged(f"{suffix}-sg"),
                opts=child,
            )

        self.alb_sg = group("alb", "CBSI-Connect load balancer: HTTPS from anywhere")
        self.app_sg = group("app", "CBSI-Connect Moodle tasks: HTTP from the load balancer")
        self.db_sg = group("db", "CBSI-Connect PostgreSQL: from the Moodle tasks only")
        self.efs_sg = group("efs", "CBSI-Connect moodledata: NFS from the Moodle tasks only")
        self.redis_sg = group("redis", "CBSI-Connect Redis: from the Moodle tasks only")

        def ingress(suffix: str, sg: aws.ec2.SecurityGroup, port: int, **source: object) -> None:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{suffix}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                tags=self._tagged(suffix),
                opts=pulumi.ResourceOptions(parent=sg),
                **source,
            )

        def egress(suffix: str, sg: aws.ec2.SecurityGroup, port: int, **target: object) -> None:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{suffix}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                tags=self._tagged(suffix),
                opts=pulumi.ResourceOptions(parent=sg),
                **target,
            )

        # The only rules open to the internet: the load balancer's 443 and 80 (which redirects).
        for port in (443, 80):
            ingress(f"alb-in-{port}", self.alb_sg, port, cidr_ipv4="0.0.0.0/0")
        egress("alb-to-app", self.alb_sg, APP_PORT, referenced_security_group_id=self.app_sg.id)
        ingress("app-from-alb", self.app_sg, APP_PORT, referenced_security_group_id=self.alb_sg.id)
        # Tasks reach AWS APIs, ECR and Moodle's language packs over HTTPS (through NAT).
        egress("app-out-https", self.app_sg, 443, cidr_ipv4="0.0.0.0/0")
        for suffix, sg, port in (
            ("db", self.db_sg, DB_PORT),
            ("efs", self.efs_sg, 2049),
            ("redis", self.redis_sg, REDIS_PORT),
        ):
            egress(f"app-to-{suffix}", self.app_sg, port, referenced_security_group_id=sg.id)
            ingress(f"{suffix}-from-app", sg, port, referenced_security_group_id=self.app_sg.id)

    def _load_balancer(self) -> None:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        # us-east-1 and the other older regions deliver ALB logs as the regional ELB account.
        elb_account = aws.elb.get_service_account_output(opts=pulumi.InvokeOptions(parent=self))
        logs = SecureBucket(
            f"{name}-alb-logs",
            SecureBucketArgs(
                tags=args.tags,
                kms_key_arn=None,  # ALB log delivery supports SSE-S3 only
                lifecycle_rules=[
                    {
                        "id": "expire",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "expiration": {"days": args.log_retention_days},
                    }
                ],
                extra_statements=lambda arn: [
                    {
                        "Sid": "AlbAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"AWS": elb_account.arn},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/alb/*",
                    }
                ],
                protect=False,  # logs age out by lifecycle; losing the bucket loses no data
            ),
            opts=child,
        )
        self.alb_logs_bucket = logs.name
        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            security_groups=[self.alb_sg.id],
            subnets=args.public_subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.production,
            idle_timeout=120,  # long Moodle requests: backups, grade exports
            access_logs={"bucket": logs.name, "prefix": "alb", "enabled": True},
            tags=self._tagged("alb"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),  # bucket policy first
        )
        https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",  # TLS 1.2+ with modern ciphers
            certificate_arn=args.certificate_arn,
            default_actions=[
                {
                    "type": "fixed-response",
                    "fixed_response": {
                        "content_type": "text/plain",
                        "status_code": "404",
                        "message_body": "There is no CBSI-Connect site at this address.",
                    },
                }
            ],
            tags=self._tagged("https"),
            opts=pulumi.ResourceOptions(parent=alb),
        )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                {
                    "type": "redirect",
                    "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"},
                }
            ],
            tags=self._tagged("http"),
            opts=pulumi.ResourceOptions(parent=alb),
        )
        self.alb_arn = alb.arn
        self.alb_arn_suffix = alb.arn_suffix
        self.alb_dns_name = alb.dns_name
        self.alb_zone_id = alb.zone_id
        self.https_listener_arn = https.arn

    def _image_repository(self) -> None:
        name = self._name
        repository = aws.ecr.Repository(
            f"{name}-moodle",
            image_tag_mutability="IMMUTABLE",  # a tag in the stack config means one image
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=not self._args.production,
            tags=self._tagged("moodle"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-moodle-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "keep the last 20 images (rollback window)",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": 20,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=pulumi.ResourceOptions(parent=repository),
        )
        self.repository_url = repository.repository_url

    def _database(self) -> None:
        name, args, lms = self._name, self._args, self._args.lms
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.rds.SubnetGroup(
            f"{name}-db-subnets",
            subnet_ids=args.private_subnet_ids,
            tags=self._tagged("db-subnets"),
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-db-params",
            family=f"postgres{DB_ENGINE_VERSION}",
            description="Moodle on PostgreSQL",
            parameters=[
                {"name": key, "value": value, "apply_method": method}
                for key, (value, method) in sorted(DB_PARAMETERS.items())
            ],
            tags=self._tagged("db-params"),
            opts=child,
        )
        database = aws.rds.Instance(
            f"{name}-db",
            engine="postgres",
            engine_version=DB_ENGINE_VERSION,
            instance_class=lms.db_instance_class,
            allocated_storage=lms.db_allocated_storage_gb,
            max_allocated_storage=lms.db_max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            multi_az=lms.db_multi_az,
            db_subnet_group_name=subnets.name,
            parameter_group_name=parameters.name,
            vpc_security_group_ids=[self.db_sg.id],
            publicly_accessible=False,
            username="cbsi_admin",
            # RDS generates the master password and keeps (and rotates) it in Secrets Manager:
            # it never passes through Pulumi, the stack state or a task definition.
            manage_master_user_password=True,
            backup_retention_period=lms.db_backup_retention_days,
            backup_window="06:00-07:00",  # 01:00-02:00 in Jamaica, 02:00-03:00 in Trinidad
            maintenance_window="sun:07:30-sun:08:30",
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            deletion_protection=args.production,
            skip_final_snapshot=not args.production,
            final_snapshot_identifier=f"cbsi-{args.environment}-final" if args.production else None,
            performance_insights_enabled=True,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            tags=self._tagged("db"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        self.db_address = database.address
        self.db_identifier = database.identifier
        self.db_arn = database.arn
        self.db_master_secret_arn = database.master_user_secrets.apply(
            lambda secrets: secrets[0]["secret_arn"] if secrets else ""
        )

    def _moodledata(self) -> None:
        name, args = self._name, self._args
        file_system = aws.efs.FileSystem(
            f"{name}-moodledata",
            encrypted=True,
            performance_mode="generalPurpose",
            throughput_mode="elastic",  # pay for what is used; no burst credits to run out
            lifecycle_policies=[
                {"transition_to_ia": "AFTER_30_DAYS"},
                {"transition_to_primary_storage_class": "AFTER_1_ACCESS"},
            ],
            tags=self._tagged("moodledata"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        fs_child = pulumi.ResourceOptions(parent=file_system)
        aws.efs.BackupPolicy(
            f"{name}-moodledata-backup",
            file_system_id=file_system.id,
            backup_policy={"status": "ENABLED"},  # AWS Backup's daily default plan
            opts=fs_child,
        )
        aws.efs.FileSystemPolicy(
            f"{name}-moodledata-policy",
            file_system_id=file_system.id,
            policy=file_system.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "*",
                                "Resource": arn,
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            opts=fs_child,
        )
        for i, subnet_id in enumerate(args.private_subnet_ids):
            aws.efs.MountTarget(
                f"{name}-moodledata-mount-{i}",
                file_system_id=file_system.id,
                subnet_id=subnet_id,
                security_groups=[self.efs_sg.id],
                opts=fs_child,
            )
        self.file_system_id = file_system.id
        self.file_system_arn = file_system.arn

    def _redis(self) -> None:
        name, args, lms = self._name, self._args, self._args.lms
        child = pulumi.ResourceOptions(parent=self)
        token = random.RandomPassword(
            f"{name}-redis-auth",
            length=48,
            special=False,  # Redis AUTH tokens refuse several punctuation characters
            opts=child,
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-redis-auth",
            description="AUTH token of the CBSI-Connect Redis (sessions and Moodle cache)",
            recovery_window_in_days=7,
            tags=self._tagged("redis-auth"),
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-redis-auth",
            secret_id=secret.id,
            secret_string=token.result,
            opts=pulumi.ResourceOptions(parent=secret),
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-redis-subnets",
            subnet_ids=args.private_subnet_ids,
            tags=self._tagged("redis-subnets"),
            opts=child,
        )
        failover = lms.redis_replicas > 0
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description="CBSI-Connect Moodle sessions and cache",
            engine="redis",
            engine_version="7.1",
            node_type=lms.redis_node_type,
            num_cache_clusters=1 + lms.redis_replicas,
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[self.redis_sg.id],
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=token.result,
            snapshot_retention_limit=1 if args.production else 0,
            auto_minor_version_upgrade=True,
            tags=self._tagged("redis"),
            opts=child,
        )
        self.redis_host = group.primary_endpoint_address
        self.redis_group_id = group.id
        self.redis_auth_secret_arn = secret.arn
