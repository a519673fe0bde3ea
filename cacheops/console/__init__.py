"""The read-only ops console of the catalog cache, in the admin at /admin/cacheops/."""
