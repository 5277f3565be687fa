"""HTTP layer: one router per resource, thin handlers over the domain (runner, scenarios)."""
