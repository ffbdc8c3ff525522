"""Operating the service: logs, metrics, health."""
