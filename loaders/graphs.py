"""Reading road graphs: osmnx GraphML in, :class:`~dispatch.roads.RoadNetwork` out, cached.

:func:`load_network` reads any osmnx GraphML (plain or ``.gz``) and builds its network with
:func:`dispatch.road_graph.network_from_graph` (the largest strongly connected component, every
edge priced by a :class:`~dispatch.speeds.SpeedProfile`). The prepared arrays are saved under
the cache directory, keyed by the SHA-256 of the GraphML file and the speed profile, so the
second start skips osmnx entirely. :func:`load_index` does the same for a travel-time index.
The decision core never reads files; this module is its edge.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from dispatch.road_graph import network_from_graph
from dispatch.roads import RoadNetwork, Target, TravelTimeIndex, build_index
from dispatch.speeds import SpeedProfile

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content: of the uncompressed bytes for a ``.gz`` file (so a graph keeps its
    published checksum, and its cache, whether it is stored plain or compressed)."""
    digest = hashlib.sha256()
    with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_graph(path: Path) -> Path:
    """``path``, or its gzip-compressed twin ``<path>.gz`` when only that exists (the bundled graphs
    ship compressed)."""
    packed = path.with_name(path.name + ".gz")
    return packed if not path.exists() and packed.is_file() else path


def load_graphml(path: Path) -> Any:
    """The osmnx graph of a GraphML file, plain or gzip-compressed (``.graphml.gz``)."""
    import osmnx

    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return osmnx.load_graphml(graphml_str=handle.read())
    return osmnx.load_graphml(path)


def _network_arrays(network: RoadNetwork) -> dict[str, np.ndarray]:
    return {
        "version": np.array([CACHE_VERSION]),
        "osm_ids": network.osm_ids,
        "lat": network.lat,
        "lon": network.lon,
        "indptr": network.time_s.indptr,
        "indices": network.time_s.indices,
        "seconds": network.time_s.data,
        "meters": network.length_m.data,
        "geometry_offsets": network.geometry_offsets,
        "geometry_coords": network.geometry_coords,
    }


def _network_from_arrays(arrays: Any, name: str) -> RoadNetwork:
    n = len(arrays["osm_ids"])
    shape = (n, n)
    return RoadNetwork(
        osm_ids=arrays["osm_ids"],
        lat=arrays["lat"],
        lon=arrays["lon"],
        time_s=csr_matrix((arrays["seconds"], arrays["indices"], arrays["indptr"]), shape=shape),
        length_m=csr_matrix((arrays["meters"], arrays["indices"], arrays["indptr"]), shape=shape),
        geometry_offsets=arrays["geometry_offsets"],
        geometry_coords=arrays["geometry_coords"],
        name=name,
    )


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)  # type: ignore[arg-type]
    partial.replace(path)  # atomic: a crash never leaves half a cache file behind


_NETWORK_ARRAYS = (
    "osm_ids",
    "lat",
    "lon",
    "indptr",
    "indices",
    "seconds",
    "meters",
    "geometry_offsets",
    "geometry_coords",
)
_INDEX_ARRAYS = ("target_nodes", "to_target_s", "to_target_m", "next_hop")


def _load(path: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` of a cache file, read in full and the file closed; None when the
    file is from another cache version or unreadable (truncated, corrupted, arrays missing)."""
    try:
        # Our own handle: np.load leaks the one it opens when the zip directory is unreadable.
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            if int(archive["version"][0]) != CACHE_VERSION:
                return None
            return {name: archive[name] for name in names}
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile):
        log.warning("ignoring unreadable cache file %s", path)
        return None


def network_cache_key(graph_path: Path, speeds: SpeedProfile) -> str:
    return f"{file_sha256(graph_path)[:16]}-{speeds.key()}"


def load_network(
    graph_path: Path, *, speeds: SpeedProfile, cache_dir: Path | None, key: str | None = None
) -> RoadNetwork:
    """The prepared network of an osmnx GraphML file, from the cache when it is there
    (``key``: its :func:`network_cache_key`, when the caller has it already)."""
    if not graph_path.is_file():
        raise FileNotFoundError(f"road graph {graph_path} does not exist")
    name = graph_path.name.removesuffix(".gz")
    key = key or network_cache_key(graph_path, speeds)
    cache = cache_dir / f"network-{key}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        arrays = _load(cache, _NETWORK_ARRAYS)
        if arrays is not None:
            return _network_from_arrays(arrays, name)
    network = network_from_graph(load_graphml(graph_path), speeds=speeds, name=name)
    if cache is not None:
        _save(cache, _network_arrays(network))
    return network


def load_index(
    network: RoadNetwork,
    targets: Sequence[Target],
    *,
    network_key: str,
    cache_dir: Path | None,
    access_kmh: float = 20.0,
    max_snap_m: float = 500.0,
) -> TravelTimeIndex:
    """The travel-time index of ``targets`` on ``network``, from the cache when it is there."""
    target_key = hashlib.sha256(repr([(t.id, t.lat, t.lon) for t in targets]).encode() + repr(max_snap_m).encode())
    cache = cache_dir / f"index-{network_key}-{target_key.hexdigest()[:12]}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        arrays = _load(cache, _INDEX_ARRAYS)
        if arrays is not None:
            return TravelTimeIndex(
                network,
                tuple(targets),
                arrays["target_nodes"],
                arrays["to_target_s"],
                arrays["to_target_m"],
                arrays["next_hop"],
                access_kmh=access_kmh,
                max_snap_m=max_snap_m,
            )
    index = build_index(network, targets, access_kmh=access_kmh, max_snap_m=max_snap_m)
    if cache is not None:
        _save(
            cache,
            {
                "version": np.array([CACHE_VERSION]),
                "target_nodes": index.target_nodes,
                "to_target_s": index.to_target_s,
                "to_target_m": index.to_target_m,
                "next_hop": index.next_hop,
            },
        )
    return index
