"""vapiops: Terraform-style configuration management for Vapi (assistants, tools, squads, ...)."""

__version__ = "0.2.0"
