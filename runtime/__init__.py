"""What every process of the service shares: settings read from the environment, the Temporal
connection, logging and the way a process exits. Imports nothing from the other packages but
`contracts`, so workers, the starter and the autoscaler can all depend on it."""
