"""Apps: packages that use models and devices through the SDK, their instances and their bindings."""
