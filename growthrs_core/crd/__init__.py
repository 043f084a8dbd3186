"""Custom resources: pydantic models and the CRD manifests generated from them."""
