"""The Kubernetes and KServe manifests under deploy/, checked offline.

Every Kubernetes object is validated against the API's OpenAPI schemas as kubernetes-validate
bundles them (strict: an unknown or misspelt field fails), at the oldest Kubernetes the
manifests need and the newest the pinned package knows. What no schema can see is checked
against the code: env names against ``Settings``' fields, ports against its defaults, probe
paths against the health routes, the user against the Dockerfile, the image against compose,
the scaling metric against the gauge the app exports. The same for the reverse proxy of
docker-compose.yml's "scale" profile (deploy/nginx): its ports, limits and retries against
compose and the app, and the supervisor that keeps its upstreams.
"""

from __future__ import annotations

import http.client
import importlib.util
import inspect
import io
import os
import re
import urllib.error
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import uvicorn
import yaml

from model.artifacts import TEMP_PREFIX
from service.api.routes import health
from service.app import create_app
from service.observability import metrics
from service.settings import Settings

KUBERNETES_VERSIONS = ("1.30", "1.37")
"""1.30: the first with the preStop ``sleep`` action on by default; 1.37: the newest schemas in
the pinned kubernetes-validate."""

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KSERVE = ROOT / "deploy" / "kserve" / "inferenceservice.yaml"
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")

OTHER_ENV = {
    "HOME": "read by the libraries: Matplotlib's config, Keras' cache, ONNX Runtime's ID",
    "MNIST_DIR": "read by python -m training (training/cli.py)",
    "PROTOCOL": "read by KServe: a custom predictor's protocol",
}
"""Variables the manifests may set that are no ``LENET_*`` setting, and who reads them."""

KSERVE_EXTENSION = {
    "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "containerConcurrency",
    "timeout", "canaryTrafficPercent", "logger", "batcher", "labels", "annotations",
    "deploymentStrategy",
}  # fmt: skip
"""KServe's ``ComponentExtensionSpec``: the predictor's fields that are not a PodSpec's."""


def load(path: Path) -> list[dict[str, Any]]:
    with path.open() as file:
        return [doc for doc in yaml.safe_load_all(file) if doc]


def only(path: Path) -> dict[str, Any]:
    (document,) = load(path)
    return document


def resources() -> dict[str, dict[str, Any]]:
    """deploy/kubernetes's objects by kind (one of each)."""
    found = [doc for path in MANIFESTS for doc in load(path)]
    by_kind = {doc["kind"]: doc for doc in found}
    assert len(by_kind) == len(found), "one object of each kind"
    return by_kind


def inference_service() -> dict[str, Any]:
    return only(KSERVE)


def predictor_pod_spec() -> dict[str, Any]:
    predictor = inference_service()["spec"]["predictor"]
    return {key: value for key, value in predictor.items() if key not in KSERVE_EXTENSION}


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod the manifests make: the API's, the training Job's, KServe's predictor's."""
    found = resources()
    return {
        "Deployment": found["Deployment"]["spec"]["template"]["spec"],
        "Job": found["Job"]["spec"]["template"]["spec"],
        "InferenceService": predictor_pod_spec(),
    }


def serving_containers() -> dict[str, dict[str, Any]]:
    """The containers that run ``python -m service``."""
    specs = pod_specs()
    return {
        "Deployment": specs["Deployment"]["containers"][0],
        "InferenceService": specs["InferenceService"]["containers"][0],
    }


def all_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for owner, spec in pod_specs().items():
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{owner}/{container['name']}", container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {var["name"]: var["value"] for var in container.get("env", [])}


def settings_for(container: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the app would read in this container: its env and nothing else."""
    for name in list(os.environ):
        if name.startswith("LENET_"):
            monkeypatch.delenv(name)
    for name, value in env_of(container).items():
        if name.startswith("LENET_"):
            monkeypatch.setenv(name, value)
    return Settings()


def port_numbers(container: dict[str, Any]) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container["ports"]}


def health_paths() -> dict[str, str]:
    """The probes' routes by handler name: get_liveness, get_readiness."""
    return {route.endpoint.__name__: route.path for route in health.router.routes}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schemas(path: Path, version: str) -> None:
    documents = load(path)
    assert documents, f"{path.name} holds no object"
    for document in documents:
        assert kubernetes_validate.validate(document, version, strict=True) == version


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kserve_predictor_is_a_valid_pod_spec(version: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"}}
    pod["spec"] = predictor_pod_spec()
    assert kubernetes_validate.validate(pod, version, strict=True) == version


def test_kustomization_lists_every_manifest_in_its_folder() -> None:
    kustomization = only(KUBERNETES / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == [path.name for path in MANIFESTS]


def test_every_container_runs_the_image_compose_builds() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    match = re.search(r"image: \$\{LENET_IMAGE:-([^}]+)\}", compose)
    assert match, "docker-compose.yml's image line changed"
    image = match.group(1)
    for name, container in all_containers():
        assert container["image"] == image, name
        assert container["imagePullPolicy"] == "IfNotPresent", name  # a loaded :latest works
    kustomization = only(KUBERNETES / "kustomization.yaml")
    assert [entry["name"] for entry in kustomization["images"]] == [image.split(":")[0]]


def test_env_names_are_settings_or_named_readers() -> None:
    fields = set(Settings.model_fields)
    for name, container in all_containers():
        for var in env_of(container):
            if var.startswith("LENET_"):
                assert var.removeprefix("LENET_").lower() in fields, f"{name}: {var}"
            else:
                assert var in OTHER_ENV, f"{name}: {var} is no setting"
    assert 'os.environ.get("MNIST_DIR")' in (ROOT / "training" / "cli.py").read_text()


@pytest.mark.parametrize("owner", ["Deployment", "InferenceService"])
def test_env_values_are_valid_settings(owner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = serving_containers()[owner]
    settings = settings_for(container, monkeypatch)
    # Set, not derived: a container's CPU affinity is its node's, not its limit.
    assert settings.backend_threads is not None
    limit = container["resources"]["limits"]["cpu"]
    cpus = int(limit[:-1]) / 1000 if limit.endswith("m") else float(limit)
    assert settings.workers * settings.backend_threads <= cpus


def test_deployment_ports_are_the_settings_defaults() -> None:
    container = serving_containers()["Deployment"]
    assert not {"LENET_HOST", "LENET_PORT", "LENET_GRPC_PORT"} & set(env_of(container))
    defaults = Settings.model_fields
    assert defaults["host"].default == "0.0.0.0"  # reachable from outside the pod
    assert port_numbers(container) == {
        "http": defaults["port"].default,
        "grpc": defaults["grpc_port"].default,
    }

    service = resources()["Service"]
    by_name = {port["name"]: port for port in service["spec"]["ports"]}
    for name, number in port_numbers(container).items():
        assert by_name[name]["targetPort"] == name
        assert by_name[name]["port"] == number
    assert by_name["grpc"]["appProtocol"] == "kubernetes.io/h2c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_probes_ask_the_apps_health_routes() -> None:
    paths = health_paths()
    # The app answers them. No lifespan, so no model: /readyz says 503, and not 404.
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(paths["get_liveness"])).status_code == 200
        assert (await client.get(paths["get_readiness"])).status_code == 503
        assert (await client.get("/metrics")).status_code == 200
    for owner, container in serving_containers().items():
        http = container["ports"][0]["name"]
        probes = {key: container[key]["httpGet"] for key in container if key.endswith("Probe")}
        assert probes == {
            "startupProbe": {"path": paths["get_readiness"], "port": http},
            "readinessProbe": {"path": paths["get_readiness"], "port": http},
            "livenessProbe": {"path": paths["get_liveness"], "port": http},
        }, owner


def test_scrape_annotations_name_the_http_port_and_metrics() -> None:
    annotations = {
        "Deployment": resources()["Deployment"]["spec"]["template"]["metadata"]["annotations"],
        "InferenceService": inference_service()["spec"]["predictor"]["annotations"],
    }
    for owner, container in serving_containers().items():
        assert annotations[owner] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(container["ports"][0]["containerPort"]),
            "prometheus.io/path": "/metrics",
        }, owner


@pytest.mark.parametrize("owner", ["Deployment", "InferenceService"])
def test_grace_period_covers_prestop_and_the_apps_shutdown(
    owner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = serving_containers()[owner]
    settings = settings_for(container, monkeypatch)
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = pod_specs()[owner]["terminationGracePeriodSeconds"]
    # SIGKILL must come after the app's own deadline, with a margin for its exit.
    deadline = sleep + settings.shutdown_delay_seconds + settings.shutdown_timeout_seconds
    assert deadline < grace <= deadline + 10


def test_compose_waits_out_the_apis_pause_and_drain_before_sigkill() -> None:
    api = compose_services()["api"]
    default = re.fullmatch(
        r"\$\{LENET_SHUTDOWN_DELAY_SECONDS:-(\d+)\}",
        api["environment"]["LENET_SHUTDOWN_DELAY_SECONDS"],
    )
    assert default, "LENET_SHUTDOWN_DELAY_SECONDS is no longer a plain default"
    deadline = int(default.group(1)) + Settings().shutdown_timeout_seconds
    grace = int(api["stop_grace_period"].removesuffix("s"))
    assert deadline < grace <= deadline + 10


def test_pods_run_as_the_images_user_on_a_read_only_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"useradd .*--uid (\d+) app", dockerfile)
    assert user, "the Dockerfile's useradd line changed"
    uid = int(user.group(1))
    for owner, spec in pod_specs().items():
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        assert spec["securityContext"]["runAsUser"] == uid, owner
        assert spec["securityContext"]["fsGroup"] == uid, owner
        assert spec["automountServiceAccountToken"] is False, owner
    for name, container in all_containers():
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert "cpu" in container["resources"]["requests"], name  # the autoscaler needs it
        assert "memory" in container["resources"]["limits"], name


def test_home_is_the_writable_tmp() -> None:
    for owner, spec in pod_specs().items():
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        container = spec["containers"][0]
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert env_of(container)["HOME"] == "/tmp", owner
        assert "emptyDir" in volumes[mounts["/tmp"]], owner


def test_api_mounts_the_models_read_only_and_the_job_read_write() -> None:
    claim = resources()["PersistentVolumeClaim"]["metadata"]["name"]
    for owner, spec in pod_specs().items():
        (volume,) = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
        assert volume["persistentVolumeClaim"] == {"claimName": claim}, owner
        for container in spec.get("initContainers", []) + spec["containers"]:
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
            assert mount["mountPath"] == env_of(container)["LENET_MODEL_ROOT"], owner
            writes = owner == "Job" or container["name"] == "seed-models"
            assert mount.get("readOnly", False) is not writes, (owner, container["name"])


def test_every_pod_seeds_the_bundled_versions_the_same_way() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "WORKDIR /app" in dockerfile
    assert "COPY artifacts/lenet/1 artifacts/lenet/1" in dockerfile
    scripts = set()
    for spec in pod_specs().values():
        (seed,) = spec["initContainers"]
        scripts.add(tuple(seed["command"]))
    assert len(scripts) == 1, "deployment.yaml, train-job.yaml and the InferenceService differ"
    script = scripts.pop()[-1]
    assert "/app/artifacts/lenet/*/" in script
    # A half-copied version is a hidden folder that the model repository skips.
    assert f'staging="$root/{TEMP_PREFIX}' in script


def test_selectors_pick_the_api_pods_only() -> None:
    found = resources()
    deployment, job = found["Deployment"], found["Job"]
    api_labels = deployment["spec"]["template"]["metadata"]["labels"]
    train_labels = job["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return selector.items() <= labels.items()

    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        found["Service"]["spec"]["selector"],
        found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selects(selector, api_labels)
        assert not selects(selector, train_labels)
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns replicas"


def test_training_job_is_created_suspended() -> None:
    job = resources()["Job"]
    assert job["spec"]["suspend"] is True
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "training"]


def test_inference_service_has_what_kserve_requires(monkeypatch: pytest.MonkeyPatch) -> None:
    service = inference_service()
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    name = service["metadata"]["name"]
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)  # KServe's name rule
    predictor = service["spec"]["predictor"]
    # A custom predictor: containers, and none of the one-of framework or model specs.
    assert not {"model", "sklearn", "tensorflow", "triton", "onnx", "pytorch"} & set(predictor)
    (container,) = [c for c in predictor["containers"] if c["name"] == "kserve-container"]
    env = env_of(container)
    assert env["PROTOCOL"] == "v2"  # what KServe reads for containers: v1 or v2
    settings = settings_for(container, monkeypatch)
    assert settings.model_name == name  # /v2/models/{name} means the same model to both
    # REST first (KServe exposes it on port 80), gRPC in the port named h2c: 8080 and 8081,
    # KServe's own defaults, and what the app listens on here.
    assert container["ports"][0] == {"name": "http1", "containerPort": 8080, "protocol": "TCP"}
    assert container["ports"][1] == {"name": "h2c", "containerPort": 8081, "protocol": "TCP"}
    assert (settings.port, settings.grpc_port) == (8080, 8081)
    # Two ports need the plain Deployment mode: Knative's Serverless routes one. Since
    # KServe 0.16 that mode is "Standard", and only it is validated as HPA's: under any
    # other name, as Knative's, scaleMetric may be only concurrency or rps.
    annotations = service["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Standard"
    assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    assert predictor["scaleMetric"] in {"cpu", "memory"}  # HPA's


def test_inference_service_matches_the_deployment() -> None:
    containers = serving_containers()
    deployment, predictor = containers["Deployment"], containers["InferenceService"]

    def by_number(container: dict[str, Any], key: str) -> dict[str, Any]:
        probe = container[key]
        port = port_numbers(container)[probe["httpGet"]["port"]]
        return probe | {"httpGet": probe["httpGet"] | {"port": port}}

    for key in ("startupProbe", "readinessProbe", "livenessProbe"):
        ours, kserves = by_number(deployment, key), by_number(predictor, key)
        assert ours | {"httpGet": None} == kserves | {"httpGet": None}, key
        assert ours["httpGet"]["path"] == kserves["httpGet"]["path"], key
    for key in ("resources", "securityContext", "lifecycle", "volumeMounts"):
        assert deployment[key] == predictor[key], key
    different = {"PROTOCOL", "LENET_PORT", "LENET_GRPC_PORT"}
    assert env_of(deployment) == {k: v for k, v in env_of(predictor).items() if k not in different}
    specs = pod_specs()
    for key in ("securityContext", "volumes", "terminationGracePeriodSeconds"):
        assert specs["Deployment"][key] == specs["InferenceService"][key], key


def documented_yaml() -> list[Any]:
    """The YAML blocks of docs/deploy.md."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def queued_images_metric() -> str:
    described = metrics.QUEUED_IMAGES.describe()  # one Metric, or prometheus-client's list
    (family,) = described if isinstance(described, list) else [described]
    return str(family.name)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_documented_queue_depth_autoscaler_validates(version: str) -> None:
    (autoscaler,) = [
        doc
        for doc in documented_yaml()
        if isinstance(doc, dict) and doc.get("kind") == "HorizontalPodAutoscaler"
    ]
    assert kubernetes_validate.validate(autoscaler, version, strict=True) == version
    cpu = resources()["HorizontalPodAutoscaler"]
    assert autoscaler["spec"]["scaleTargetRef"] == cpu["spec"]["scaleTargetRef"]
    assert autoscaler["metadata"]["name"] == cpu["metadata"]["name"], "it replaces the CPU one"
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == queued_images_metric()
    target = int(metric["pods"]["target"]["averageValue"])
    assert 0 < target < Settings.model_fields["queue_max_images"].default  # before shedding


def test_documented_adapter_rule_reads_the_queue_gauge() -> None:
    (config,) = [doc for doc in documented_yaml() if isinstance(doc, dict) and "rules" in doc]
    (rule,) = config["rules"]
    gauge = queued_images_metric()
    assert rule["seriesQuery"].startswith(gauge + "{")
    assert rule["name"]["as"] == gauge
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


# The proxy of docker-compose.yml's "scale" profile: deploy/nginx, against compose and the app.

NGINX = ROOT / "deploy" / "nginx"


def compose_services() -> dict[str, Any]:
    with (ROOT / "docker-compose.yml").open() as file:
        services: dict[str, Any] = yaml.safe_load(file)["services"]
    return services


Directive = tuple[str, list[str], list[Any]]
"""An nginx directive: its name, its arguments and, for a block, the directives inside."""


def nginx_conf() -> list[Directive]:
    """deploy/nginx/nginx.conf as a tree: words, ``;`` ends a directive, braces a block."""
    text = re.sub(r"#.*", "", (NGINX / "nginx.conf").read_text())
    tokens = re.findall(r'"[^"]*"|[{};]|[^\s{};]+', text)

    def block(at: int) -> tuple[list[Directive], int]:
        found: list[Directive] = []
        words: list[str] = []
        while at < len(tokens):
            token, at = tokens[at], at + 1
            if token == "}":
                break
            if token == "{":
                children, at = block(at)
                found.append((words[0], words[1:], children))
                words = []
            elif token == ";":
                found.append((words[0], words[1:], []))
                words = []
            else:
                words.append(token)
        return found, at

    return block(0)[0]


def nginx_block(*path: str) -> dict[str, list[str]]:
    """The simple directives of the block at ``path`` (each step a block's name and arguments,
    as ``"upstream api_http"``; a server is named by its ``listen``) by name."""
    directives = nginx_conf()
    for step in path:
        name, *args = step.split()
        (directives,) = [
            children
            for kind, arguments, children in directives
            if (kind, arguments) == (name, args)
            or (kind == "server" == name and [args] == [a for k, a, _ in children if k == "listen"])
        ]
    return {name: args for name, args, children in directives if not children}


def supervisor() -> Any:
    """deploy/nginx/upstreams.py, imported from its path (it is no package's)."""
    spec = importlib.util.spec_from_file_location("upstreams", NGINX / "upstreams.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_proxy_listens_on_the_ports_compose_publishes_and_the_app_serves() -> None:
    defaults = Settings.model_fields
    http, grpc = defaults["port"].default, defaults["grpc_port"].default
    assert nginx_block("http", f"server {http}", "location /")  # one server a port
    assert nginx_block("http", f"server {grpc} http2", "location /")
    published = [port.rsplit(":", 1)[-1] for port in compose_services()["proxy"]["ports"]]
    assert published == [str(http), str(grpc)]
    upstreams = supervisor()
    assert (upstreams.HTTP_PORT, upstreams.GRPC_PORT) == (http, grpc)  # each replica's ports


def test_proxy_upstreams_are_the_files_its_supervisor_writes() -> None:
    written = supervisor().UPSTREAM_FILES
    http = nginx_block("http", "upstream api_http")
    grpc = nginx_block("http", "upstream api_grpc")
    assert [http["include"], grpc["include"]] == [[str(path)] for path in written.values()]
    assert all(str(path).startswith("/tmp/") for path in written.values())  # writable there
    assert nginx_block("http", "server 8000", "location /")["proxy_pass"] == ["http://api_http"]
    assert nginx_block("http", "server 8001 http2", "location /")["grpc_pass"] == [
        "grpc://api_grpc"
    ]


def test_proxy_keeps_the_apps_limits_and_drops_idle_connections_first() -> None:
    defaults = Settings.model_fields
    http = nginx_block("http")
    assert http["client_max_body_size"] == [f"{defaults['max_body_bytes'].default // 2**20}m"]
    assert http["client_header_timeout"] == [f"{defaults['header_timeout_seconds'].default:g}s"]
    assert http["client_body_timeout"] == [f"{defaults['body_timeout_seconds'].default:g}s"]
    # nginx must give up an idle connection to a replica before uvicorn closes it.
    uvicorn_idle = inspect.signature(uvicorn.Config).parameters["timeout_keep_alive"].default
    assert "timeout_keep_alive" not in (ROOT / "service" / "__main__.py").read_text()
    (idle,) = nginx_block("http", "upstream api_http")["keepalive_timeout"]
    assert int(idle.removesuffix("s")) < uvicorn_idle


@pytest.mark.parametrize("module", ["proxy", "grpc"])
def test_proxy_retries_failed_calls_elsewhere_within_bounds(module: str) -> None:
    server = "server 8000" if module == "proxy" else "server 8001 http2"
    location = nginx_block("http", server, "location /")
    retried = set(location[f"{module}_next_upstream"])
    assert {"error", "timeout", "http_502", "http_503", "non_idempotent"} <= retried
    assert 1 < int(location[f"{module}_next_upstream_tries"][0]) <= 3
    assert location[f"{module}_next_upstream_timeout"][0].endswith("s")
    assert location["add_header"][:2] == ["X-Upstream", "$upstream_addr"]


def test_a_replica_that_sheds_load_is_not_left_out() -> None:
    """nginx counts every answer it retries on as a failed attempt: with a 503 retried, any
    max_fails but 0 left a replica out after one shed request, and the others in turn."""
    assert "http_503" in nginx_block("http", "server 8000", "location /")["proxy_next_upstream"]
    assert supervisor().SERVER_OPTIONS.split() == ["max_fails=0"]


def test_thread_and_process_counts_do_not_grow_with_the_hosts_cpus() -> None:
    """Unbounded, the API's backends size their pools by every CPU of the host, and nginx
    starts a worker a CPU (twice over during a reload), past the containers' pids_limit."""
    assert compose_services()["api"]["cpus"] == "${API_CPUS:-2}"
    assert nginx_block()["worker_processes"] == ["2"]


def test_proxy_is_locked_down_like_the_api() -> None:
    services = compose_services()
    api, proxy = services["api"], services["proxy"]
    for key in ("read_only", "tmpfs", "cap_drop", "security_opt"):
        assert proxy[key] == api[key], key
    assert proxy["mem_limit"] and proxy["pids_limit"]
    assert proxy["profiles"] == ["scale"]
    assert "USER www-data" in (NGINX / "Dockerfile").read_text()


def test_api_host_ports_may_be_left_to_docker_for_replicas() -> None:
    # ${API_PORT-8000}, not ${API_PORT:-8000}: set and empty publishes on a free port.
    for port in compose_services()["api"]["ports"]:
        assert re.fullmatch(r"\$\{API_HOST:-[^}]+\}:\$\{(API|GRPC)_PORT-\d+\}:\d+", port), port


def test_supervisor_reads_a_stopping_replicas_answer_as_leaving() -> None:
    upstreams = supervisor()

    def answer(status: int, body: bytes) -> urllib.error.HTTPError:
        return urllib.error.HTTPError(
            "http://10.0.0.2:8000/readyz", status, "", Message(), io.BytesIO(body)
        )

    stopping = b'{"error": {"status": 503, "code": "shutting_down", "message": "..."}}'
    loading = b'{"error": {"status": 503, "code": "model_not_ready", "message": "..."}}'
    assert upstreams.error_code(answer(503, stopping)) == "shutting_down"
    assert upstreams.error_code(answer(503, loading)) == "model_not_ready"
    assert upstreams.error_code(answer(502, b"<html>Bad Gateway</html>")) is None

    class CutOff(io.BytesIO):
        def read(self, *_: Any) -> bytes:
            raise http.client.IncompleteRead(b'{"error": ')

    cut = urllib.error.HTTPError("http://10.0.0.2:8000/readyz", 503, "", Message(), CutOff())
    assert upstreams.error_code(cut) is None, "a replica dying mid-answer is no crash"


def test_supervisor_lists_ready_replicas_and_drops_failing_ones_after_a_streak() -> None:
    upstreams = supervisor()
    membership = upstreams.Membership()
    assert membership.update({"10.0.0.2": None, "10.0.0.3": "loading"})
    assert membership.listed == {"10.0.0.2"}
    for _ in range(upstreams.DROP_AFTER - 1):
        assert not membership.update({"10.0.0.2": "timed out", "10.0.0.3": "loading"})
    assert membership.listed == {"10.0.0.2"}, "one slow answer is no reason to reload"
    assert membership.update({"10.0.0.2": "refused", "10.0.0.3": None})
    assert membership.listed == {"10.0.0.3"}
    assert membership.update({"10.0.0.4": None})  # the DNS no longer names 10.0.0.3
    assert membership.listed == {"10.0.0.4"}
    assert membership.update({"10.0.0.4": upstreams.LEAVING, "10.0.0.5": None})
    assert membership.listed == {"10.0.0.5"}, "a replica that says it is stopping leaves at once"
    assert upstreams.render(["10.0.0.4"], 8001) == (
        f"server 10.0.0.4:8001 {upstreams.SERVER_OPTIONS};\n"
    )
