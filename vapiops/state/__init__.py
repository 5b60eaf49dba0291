"""State: what vapiops remembers per environment, behind a backend interface."""
