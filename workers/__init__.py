"""Worker processes: which queues, which activities, how many at once, clean shutdown."""
