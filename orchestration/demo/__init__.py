"""Deterministic demo data generator (landing files plus the truth to validate models against)."""

from orchestration.demo.generator import generate

__all__ = ["generate"]
