"""Runtime policy: the abuse policies an admin may change without a restart."""
