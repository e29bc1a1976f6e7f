"""Render a relay's `turnserver.conf` (from infra/templates/) and its cloud-init user data.

Pure functions, so the same template is what tests start a real coturn with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

TEMPLATE = Path(__file__).parent / "templates" / "turnserver.conf"
# Placeholders the relay fills in at boot (cbsi-relay-setup), never at render time.
SECRET_PLACEHOLDER = "@TURN_SECRET@"
PRIVATE_IP_PLACEHOLDER = "@PRIVATE_IP@"
PUBLIC_IP_PLACEHOLDER = "@PUBLIC_IP@"
STUN_PORT = 3478
TLS_PORT = 5349


@dataclass(frozen=True)
class TurnSettings:
    """Everything the template needs."""

    realm: str
    server_name: str
    static_auth_secret: str
    listening_ip: str
    external_ip: str | None  # "public/private" behind NAT (an Elastic IP), or None
    min_port: int
    max_port: int
    cert_file: str
    pkey_file: str
    pidfile: str = "/run/turnserver/turnserver.pid"
    listening_port: int = STUN_PORT
    tls_listening_port: int = TLS_PORT
    log_to_stdout: bool = False


def render_turnserver_conf(settings: TurnSettings) -> str:
    """The template with every `${...}` filled; an unknown placeholder is an error."""
    log_lines = "log-file=stdout\nsimple-log" if settings.log_to_stdout else "syslog\nsimple-log"
    values = {
        "realm": settings.realm,
        "server_name": settings.server_name,
        "static_auth_secret": settings.static_auth_secret,
        "listening_ip": settings.listening_ip,
        "external_ip_line": f"external-ip={settings.external_ip}" if settings.external_ip else "",
        "listening_port": settings.listening_port,
        "tls_listening_port": settings.tls_listening_port,
        "min_port": settings.min_port,
        "max_port": settings.max_port,
        "cert_file": settings.cert_file,
        "pkey_file": settings.pkey_file,
        "pidfile": settings.pidfile,
        "log_lines": log_lines,
    }
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)


SETUP_SCRIPT = r"""#!/bin/sh
# cbsi-relay-setup: fill in this relay's secret, addresses and certificate, then start coturn.
# Safe to rerun (the secret rotation runbook does): every step converges.
set -eu
. /etc/cbsi-relay.env
imds() {
  token=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \
    http://169.254.169.254/latest/api/token)
  curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
private_ip=$(imds local-ipv4)
public_ip=""
for attempt in $(seq 1 30); do  # the Elastic IP is attached just after the instance starts
  public_ip=$(imds public-ipv4 || true)
  [ -n "$public_ip" ] && break
  sleep 10
done
[ -n "$public_ip" ] || { echo "cbsi-relay-setup: no public IP after 5 minutes" >&2; exit 1; }
secret=$(aws secretsmanager get-secret-value --region "$CBSI_REGION" \
  --secret-id "$CBSI_TURN_SECRET_ARN" --query SecretString --output text)
umask 027
sed -e "s|@TURN_SECRET@|$secret|" -e "s|@PRIVATE_IP@|$private_ip|g" \
  -e "s|@PUBLIC_IP@|$public_ip|g" /etc/cbsi/turnserver.conf.template > /etc/turnserver.conf.new
chgrp turnserver /etc/turnserver.conf.new
mv /etc/turnserver.conf.new /etc/turnserver.conf
certbot certonly --non-interactive --agree-tos --email "$CBSI_CERT_EMAIL" \
  --dns-route53 --keep-until-expiring -d "$CBSI_RELAY_HOSTNAME" \
  --deploy-hook /usr/local/sbin/cbsi-relay-certs
/usr/local/sbin/cbsi-relay-certs
systemctl enable --now coturn prometheus-node-exporter
systemctl reload-or-restart coturn
"""

CERTS_SCRIPT = r"""#!/bin/sh
# Copy the relay's Let's Encrypt certificate where coturn (user turnserver) can read it.
set -eu
. /etc/cbsi-relay.env
live="/etc/letsencrypt/live/$CBSI_RELAY_HOSTNAME"
install -d -o root -g turnserver -m 0750 /etc/coturn
install -o root -g turnserver -m 0640 "$live/fullchain.pem" /etc/coturn/cert.pem
install -o root -g turnserver -m 0640 "$live/privkey.pem" /etc/coturn/privkey.pem
systemctl reload-or-restart coturn || true
"""


def render_user_data(
    *,
    hostname: str,
    realm: str,
    region: str,
    secret_arn: str,
    cert_email: str,
    min_port: int,
    max_port: int,
) -> str:
    """`#cloud-config` that installs coturn and node_exporter and configures this relay."""
    conf = render_turnserver_conf(
        TurnSettings(
            realm=realm,
            server_name=hostname,
            static_auth_secret=SECRET_PLACEHOLDER,
            listening_ip=PRIVATE_IP_PLACEHOLDER,
            external_ip=f"{PUBLIC_IP_PLACEHOLDER}/{PRIVATE_IP_PLACEHOLDER}",
            min_port=min_port,
            max_port=max_port,
            cert_file="/etc/coturn/cert.pem",
            pkey_file="/etc/coturn/privkey.pem",
        )
    )
    environment = "".join(
        f"{key}={json.dumps(value)}\n"
        for key, value in {
            "CBSI_REGION": region,
            "CBSI_TURN_SECRET_ARN": secret_arn,
            "CBSI_RELAY_HOSTNAME": hostname,
            "CBSI_CERT_EMAIL": cert_email,
        }.items()
    )
    files = [
        {"path": "/etc/cbsi-relay.env", "permissions": "0644", "content": environment},
        {"path": "/etc/cbsi/turnserver.conf.template", "permissions": "0600", "content": conf},
        {
            "path": "/usr/local/sbin/cbsi-relay-setup",
            "permissions": "0750",
            "content": SETUP_SCRIPT,
        },
        {
            "path": "/usr/local/sbin/cbsi-relay-certs",
            "permissions": "0750",
            "content": CERTS_SCRIPT,
        },
    ]
    document = {
        "package_update": True,
        "package_upgrade": True,
        "packages": [
            "coturn",
            "prometheus-node-exporter",
            "awscli",
            "curl",
            "certbot",
            "python3-certbot-dns-route53",
            "chrony",
        ],
        # Literal `|` blocks, so an operator reading the user data reads plain files.
        "write_files": [{**f, "content": LiteralScalarString(f["content"])} for f in files],
        "runcmd": [["/usr/local/sbin/cbsi-relay-setup"]],
    }
    out = io.StringIO()
    emitter = YAML()  # round-trip dumper: keeps this order
    emitter.width = 1000
    emitter.dump(document, out)
    return "#cloud-config\n" + out.getvalue()


def rest_credentials(secret: str, name: str, expires_at: int) -> tuple[str, str]:
    """TURN REST API credentials coturn accepts with `use-auth-secret`: the username is
    `<unix expiry>:<name>`, the password base64(HMAC-SHA1(secret, username))."""
    username = f"{expires_at}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()
