"""Fixtures of the deployment tests: the rendered overlays (kustomize runs once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops import support


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[support.Resource]]:
    """Every overlay rendered by the real kustomize, plus prod with the optional Strimzi topics component."""
    binary = support.kustomize()
    tree = support.copy_tree_for_rendering(tmp_path_factory.mktemp("render"))
    out = {name: support.build(binary, tree / "k8s" / "overlays" / name) for name in support.OVERLAYS}
    out["prod-strimzi"] = support.build(binary, support.strimzi_variant(tree, "prod"))
    return out


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    path, why = support.promtool()
    if path is None:
        pytest.skip(f"promtool could not be installed by scripts/ops/prometheus.sh (needs root and apt-get): {why}")
    return path


@pytest.fixture(scope="session")
def root() -> Path:
    return support.ROOT
