"""Render settings of the synthetic generator and the pinhole camera they imply."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.annotations import Intrinsics

FOCAL_PER_WIDTH = 0.9  # fx = fy = 0.9 × width: about 58° horizontal field of view


class RenderSettings(BaseModel):
    """Frame size, video length and encoding of generated scenes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(512, gt=0, multiple_of=2)
    height: int = Field(384, gt=0, multiple_of=2)
    num_frames: int = Field(36, ge=2)
    fps: float = Field(6.0, gt=0)
    crf: int = Field(17, ge=0, le=51)

    def intrinsics(self) -> Intrinsics:
        """Pinhole intrinsics, principal point at the image centre (pixel centres at u + 0.5, v + 0.5)."""
        focal = FOCAL_PER_WIDTH * self.width
        return Intrinsics(fx=focal, fy=focal, cx=self.width / 2, cy=self.height / 2,
                          width=self.width, height=self.height)


def view_half_tangents(settings: RenderSettings = RenderSettings()) -> tuple[float, float]:
    """tan of the half field of view, horizontally and vertically."""
    focal = FOCAL_PER_WIDTH * settings.width
    return settings.width / 2 / focal, settings.height / 2 / focal
