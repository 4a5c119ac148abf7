"""The images `make images` builds, in dependency order, with the context each one needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap.images import contexts
from bootstrap.infra.base import InfraPaths

Prepare = Callable[[InfraPaths, Path], None]


@dataclass(frozen=True)
class ImageSpec:
    """One image: its name under canopy/, its Dockerfile in deploy/images/, how its context is filled."""

    name: str
    prepare: Prepare | None = None
    repo_context: bool = False  # the repository root is the context (with .dockerignore)

    @property
    def dockerfile(self) -> Path:
        """The Dockerfile of the image."""
        return contexts.DOCKERFILES / f"{self.name}.Dockerfile"

    def tag(self, version: str) -> str:
        """canopy/<name>:<version>."""
        return f"canopy/{self.name}:{version}"


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("debian"),
    ImageSpec("python-runtime"),
    ImageSpec("platform", contexts.canopy_context, repo_context=True),
    ImageSpec("kafka", contexts.kafka_context),
    ImageSpec("postgres", contexts.postgres_context),
    ImageSpec("mosquitto"),
    ImageSpec("azurite", contexts.azurite_context),
    ImageSpec("mailpit", contexts.mailpit_context),
    ImageSpec("ferretdb", contexts.ferretdb_context),
    ImageSpec("prometheus", contexts.prometheus_context),
)


def select(names: list[str]) -> list[ImageSpec]:
    """The images named (all when none), in build order; ValueError naming the known ones otherwise."""
    known = {spec.name: spec for spec in IMAGES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown image {', '.join(unknown)}; known: {', '.join(known)}")
    return [spec for spec in IMAGES if not names or spec.name in names]
