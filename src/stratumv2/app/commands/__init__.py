"""stratumv2.app.commands."""
