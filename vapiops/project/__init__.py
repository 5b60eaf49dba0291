"""The user's project: vapiops.yaml, manifests, templates, and validation into Desired resources."""
