"""The core: config, data, bus, jobs, auth, agents, routing, interactions, cases, contacts."""
