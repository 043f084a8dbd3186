"""The plugin layer: hook specifications, the typed registries and the manager."""
