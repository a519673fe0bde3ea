"""Deterministic demo content: the generator, with its vocabulary kept as data beside it."""

from .generator import DemoContent, demo_generate, hour_floor

__all__ = ["DemoContent", "demo_generate", "hour_floor"]
