"""The build side: content as of an instant, per-program sources, pending changes, the build lock and pacing,
and the operations that build and publish versions."""
