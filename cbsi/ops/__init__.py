"""Ops automation over SSH (Fabric): inventory, tasks, the fan-out runner and its audit log."""
