"""Services mlci talks to: GitHub (REST, git auth) and model registries (GTO tags, MLflow)."""
