"""Voice: AMI connector, FastAGI, call control, reconciliation, media gateway, recordings."""
