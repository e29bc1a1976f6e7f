"""Monitoring: the `cbsi exporter`, and the Prometheus, Alertmanager and Grafana configuration
generated from the platform document."""
