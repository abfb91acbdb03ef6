"""Router benchmark: decisions per second and decide() latency at contact-center scale."""
