"""The part of a Kubernetes API server that `kubectl apply --dry-run=client` asks (no
cluster can run here): its version, the discovery of the kinds our manifests use, and
"not found" for every object, so that each would be created. It checks nothing: the
manifests' schemas are checked by kubernetes-validate. Loopback only."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {  # group/version: (name, kind, namespaced)
    "v1": [("persistentvolumeclaims", "PersistentVolumeClaim", True),
           ("services", "Service", True), ("secrets", "Secret", True),
           ("configmaps", "ConfigMap", True), ("namespaces", "Namespace", False)],
    "apps/v1": [("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True),
                ("statefulsets", "StatefulSet", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _answer(path: str) -> tuple[int, dict]:
    path = path.split("?", 1)[0].rstrip("/")
    if path == "/version":
        return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"}
    if path == "/api":
        return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = []
        for gv in RESOURCES:
            if "/" in gv:
                group, version = gv.split("/")
                entry = {"groupVersion": gv, "version": version}
                groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
        return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    for gv, resources in RESOURCES.items():
        if path == ("/api/v1" if gv == "v1" else f"/apis/{gv}"):
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                         "resources": [{"name": n, "singularName": "", "namespaced": ns,
                                        "kind": k, "verbs": VERBS} for n, k, ns in resources]}
    return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                 "reason": "NotFound", "code": 404, "message": f"{path} not found"}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = _answer(self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class KubeStub:
    def __init__(self) -> None:
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def kubeconfig(self) -> str:
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stub",
            "clusters": [{"name": "stub", "cluster": {"server": self.url}}],
            "contexts": [{"name": "stub", "context": {"cluster": "stub", "namespace": "default"}}],
            "users": [{"name": "stub", "user": {}}]})

    def __enter__(self) -> "KubeStub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()
