"""The shipped Kubernetes manifests (installer/server/kubernetes): checked against the
Kubernetes API schemas that kubernetes-validate ships (strict: no unknown field), and
read by `kubectl apply --dry-run=client`. No cluster runs here: kubectl talks to a
loopback stand-in that only answers discovery (tests/kube_stub.py); what runs in a pod is
not tested, only that the API would take it and that it says what the team servers need."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ..kube_stub import KubeStub

FOLDER = Path(__file__).resolve().parents[2] / "installer" / "server" / "kubernetes"
MANIFESTS = sorted(FOLDER.glob("*.yaml"))
KUBERNETES = ("1.30.0", "1.33.0")  # versions teams run now


def _documents() -> list[dict]:
    return [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("version", KUBERNETES)
def test_the_manifests_match_the_kubernetes_schemas(version):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    documents = _documents()
    assert {d["kind"] for d in documents} >= {"Deployment", "Service", "PersistentVolumeClaim"}
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)  # raises when wrong


def test_kubectl_dry_run_takes_them(tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (scripts/test.sh installs kubernetes-client)")
    with KubeStub() as stub:
        config = tmp_path / "kubeconfig"
        config.write_text(stub.kubeconfig())
        done = subprocess.run(["kubectl", "--kubeconfig", str(config), "apply", "--dry-run=client",
                               "--validate=false", *(f"-f={p}" for p in MANIFESTS)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/arcus-serve created (dry run)" in done.stdout
    assert "service/arcus created (dry run)" in done.stdout


def test_the_pod_is_what_a_team_server_needs():
    documents = {d["kind"]: d for d in _documents()}
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    (serve,) = pod["containers"]
    args = serve["args"]
    assert serve["resources"]["limits"]["nvidia.com/gpu"] == 1
    # Not ready when no conversation can start: the agent port's GET, no token needed.
    probe = serve["readinessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] == "readiness"
    assert "--agent-port=8999" in args and {"name": "readiness", "containerPort": 8999,
                                            "protocol": "TCP"} in serve["ports"]
    # A drain as long as serve's (600 s), then the pod may be killed.
    assert "kill -TERM 1" in " ".join(serve["lifecycle"]["preStop"]["exec"]["command"])
    assert pod["terminationGracePeriodSeconds"] >= 600
    # The token and the certificate from Secrets, the model from the shared volume,
    # downloaded by the init container.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["token"]["secret"]["secretName"] == "arcus-token"
    assert volumes["tls"]["secret"]["secretName"] == "arcus-tls"
    assert "--token-file=/etc/arcus/token/token" in args and "--ssl=/etc/arcus/tls" in args
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "arcus-models"
    (init,) = pod["initContainers"]
    assert "arcus-desktop download --model-dir /models/personaplex" in init["args"][0]
    # A conversation is one connection: no per-client affinity.
    assert documents["Service"]["spec"]["sessionAffinity"] == "None"
