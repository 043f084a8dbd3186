"""The local control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and the kwok controller, built from Go modules and run as local
processes by kwokctl's binary runtime.

``build.sh`` builds the binaries pinned in ``versions.env`` (the one place the
versions are set) into ``$GROWTHRS_CACHE/controlplane``; :func:`up` starts a
cluster and waits until it serves, :func:`down` removes it. The command line is
``python -m growthrs_testkit.controlplane``.
"""

from __future__ import annotations

from growthrs_testkit.controlplane.cluster import (
    BUILD_SH,
    CLIENT_BURST,
    CLIENT_QPS,
    DEFAULT_NAME,
    KWOK_NODE_ANNOTATION,
    VERSIONS_ENV,
    Cluster,
    ClusterError,
    KubeCluster,
    build,
    cache_root,
    cluster_dir,
    component_alive,
    component_pids,
    dead_components,
    default_kubeconfig,
    down,
    exists,
    installed_paths,
    kill_component,
    kwok_workdir,
    list_clusters,
    read_versions,
    restart_components,
    signal_component,
    up,
    wait_ready,
)

__all__ = [
    "BUILD_SH",
    "CLIENT_BURST",
    "CLIENT_QPS",
    "DEFAULT_NAME",
    "KWOK_NODE_ANNOTATION",
    "VERSIONS_ENV",
    "Cluster",
    "ClusterError",
    "KubeCluster",
    "build",
    "cache_root",
    "cluster_dir",
    "component_alive",
    "component_pids",
    "dead_components",
    "default_kubeconfig",
    "down",
    "exists",
    "installed_paths",
    "kill_component",
    "kwok_workdir",
    "list_clusters",
    "read_versions",
    "restart_components",
    "signal_component",
    "up",
    "wait_ready",
]
