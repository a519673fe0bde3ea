"""The read side: each web process's copy of the published versions and the public API answered from it.

It reads the shared cache only (manifest, clock, metrics, keys, backends) and asks for rebuilds by task name.
"""
