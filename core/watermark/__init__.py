"""Invisible watermarks for AI-generated content (GB 45438-2025 implicit labels)."""

from synthguard.watermark.image import Detection, detect, embed

__all__ = ["Detection", "detect", "embed"]
