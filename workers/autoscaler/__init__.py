"""Scale GPU worker Deployments by their Temporal task queues' backlog (see `policy` for the rules)."""
