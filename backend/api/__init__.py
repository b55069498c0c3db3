"""HTTP controllers, one per resource. Each module exports CONTROLLERS and CAPABILITIES."""
