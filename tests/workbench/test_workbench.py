"""The data scientist's tools, run for real: kedro-viz in Chromium, the walkthrough
notebook, the Airflow DAG. All on the project copy that the session's default run built."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from nbclient import NotebookClient

from tests.conftest import PROJECT_PATH

LAYERS = {
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
}
STAGES = {
    "database_check",
    "sandbox",
    "ingestion",
    "preprocessing",
    "features",
    "training",
    "scoring",
}


def _kedro(project: Path, *args: str, timeout: int = 600) -> str:
    """Run a ``kedro`` command in ``project``; its output, or a failure showing it."""
    done = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _described(catalog: dict) -> None:
    for name, entry in catalog.items():
        if name.startswith(
            "_"
        ):  # a YAML anchor's holder, not a dataset (Kedro skips it)
            continue
        metadata = entry.get("metadata") or {}
        assert metadata.get("kedro-viz", {}).get("layer") in LAYERS, name
        assert len(metadata.get("description", "")) > 20, name


def test_every_dataset_has_a_layer_and_a_description():
    for env in ("base", "prod"):
        _described(
            yaml.safe_load((PROJECT_PATH / f"conf/{env}/catalog.yml").read_text())
        )
    catalog = yaml.safe_load((PROJECT_PATH / "conf/base/catalog.yml").read_text())
    # every dataset a pipeline reads or writes is declared (none is an anonymous
    # MemoryDataset that kedro-viz would show outside every layer)
    bootstrap_project(PROJECT_PATH)
    used = set().union(*(p.datasets() for p in pipelines.values()))
    undeclared = {
        d
        for d in used
        if not d.startswith("params:")
        and d != "parameters"
        and d not in catalog
        and not re.fullmatch(r".+_plot", d)  # the "{name}_plot" factory
    }
    assert not undeclared


def test_every_node_sits_in_a_stage_namespace():
    bootstrap_project(PROJECT_PATH)
    for name, pipeline in pipelines.items():
        namespaces = {n.namespace for n in pipeline.nodes}
        assert namespaces <= STAGES, (name, namespaces)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def _rendered_dom(url: str) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    chromium = _chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def served(default_run):
    """``kedro viz build`` of the project copy, served on 127.0.0.1."""
    project = default_run["project"]
    _kedro(project, "viz", "build", "--include-previews")
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(project / "build")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield project, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_kedro_viz_build_shows_the_pipelines_in_chromium(served):
    project, url = served
    collapsed = _rendered_dom(url + "/")
    stages = set(
        re.findall(r'data-id="([^"]+)" data-node-type="modularPipeline"', collapsed)
    )
    assert stages == STAGES
    expanded = _rendered_dom(url + "/?expandAllPipelines=true")
    shown = set(
        re.findall(r'data-node-type="task" data-node-fullname="([^"]+)"', expanded)
    )
    bootstrap_project(project)
    expected = {n.name.split(".")[-1] for n in pipelines["__default__"].nodes}
    assert shown == expected
    assert len(re.findall(r'class="pipeline-layer[ "]', expanded)) == len(LAYERS)
    for dataset in ("feature_account_day", "predictions", "daily_report"):
        assert f'data-node-fullname="{dataset}"' in expanded
    # previews of PostgreSQL tables and of the report are in the static site
    previews = {
        path.name: json.loads(path.read_text())
        for path in (project / "build/api/nodes").iterdir()
    }
    kinds = {
        p.get("preview_type")
        for p in previews.values()
        if isinstance(p, dict) and p.get("preview")
    }
    assert {"TablePreview", "HTMLPreview", "ImagePreview"} <= kinds


def test_walkthrough_notebook_runs_top_to_bottom(default_run):
    project = default_run["project"]
    notebook = nbformat.read(project / "notebooks/walkthrough.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(project / "notebooks")}},
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "served forecasts for" in text and "plan rows" in text
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(charts) == 2  # the account's history and its SHAP waterfall


def test_airflow_dag_runs_one_task_per_stage_in_order(default_run, tmp_path):
    project = default_run["project"]
    dags = tmp_path / "dags"
    _kedro(
        project,
        "airflow",
        "create",
        "--pipelines",
        "daily,training",
        "--group-by",
        "namespace",
        "--jinja-file",
        "deploy/airflow/dag_template.j2",
        "--target-dir",
        str(dags),
    )
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': {d.dag_id: {'schedule': str(d.schedule), 'tasks': {t.task_id:"
        " sorted(t.upstream_task_ids) for t in d.tasks}} for d in bag.dags.values()}}))\n"
        "if len(sys.argv) > 2:\n"
        "    bag.dags['daily-profit-model-daily'].get_task(sys.argv[2]).python_callable()\n"
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "DPM_PROJECT_PATH": str(project),
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "1000",  # one log record per line
    }
    done = subprocess.run(
        [sys.executable, str(probe), str(dags), "scoring"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(
        next(ln for ln in done.stdout.splitlines() if ln.startswith("{"))
    )
    assert found["errors"] == {}
    daily = found["dags"]["daily-profit-model-daily"]
    assert daily["schedule"] == "30 5 * * 1-5"
    assert daily["tasks"] == {
        "sandbox": [],
        "ingestion": ["sandbox"],
        "preprocessing": ["ingestion"],
        "features": ["ingestion", "preprocessing"],
        "scoring": ["features"],
    }
    assert found["dags"]["daily-profit-model-training"]["tasks"] == {"training": []}
    # the scoring task ran the scoring stage for real: its nodes, and only them
    ran = {
        name.split(".")[-1]
        for name in re.findall(r"Running node: ([\w.]+):", done.stdout + done.stderr)
    }
    bootstrap_project(project)
    assert ran == {
        n.name.split(".")[-1]
        for n in pipelines["daily"].nodes
        if n.namespace == "scoring"
    }


def test_every_project_command_explains_itself():
    import click  # noqa: PLC0415

    from daily_profit_model.cli import cli  # noqa: PLC0415

    def walk(command: click.Command, path: str):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    commands = dict(walk(cli, "kedro"))
    assert {"kedro db migrate", "kedro health", "kedro model promote"} <= set(commands)
    for path, command in commands.items():
        if path == "kedro":
            continue
        assert len(command.help or "") > 20, path
        for option in command.params:
            if isinstance(option, click.Option):
                assert option.help, f"{path} {option.name}"


def test_layers_follow_the_data_so_kedro_viz_can_draw_them():
    """kedro-viz draws no layer at all when one node reads a later layer than it
    writes; every edge must go from a layer to the same or a later one."""
    import graphlib  # noqa: PLC0415

    catalog = yaml.safe_load((PROJECT_PATH / "conf/base/catalog.yml").read_text())

    def layer(dataset: str) -> str | None:
        for name in (dataset, dataset.split("@")[0]):
            if name in catalog:
                return catalog[name]["metadata"]["kedro-viz"]["layer"]
        return "reporting" if dataset.endswith("_plot") else None

    bootstrap_project(PROJECT_PATH)
    after: dict[str, set[str]] = {}
    for node in pipelines["__default__"].nodes:
        for source in filter(None, map(layer, node.inputs)):
            for target in filter(None, map(layer, node.outputs)):
                if source != target:
                    after.setdefault(target, set()).add(source)
    order = list(graphlib.TopologicalSorter(after).static_order())
    assert set(order) == LAYERS


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_mlflow_ui_serves_the_runs_plots_and_aliased_model(default_run):
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    project = default_run["project"]
    port = _free_port()
    ui = subprocess.Popen(  # its own process group: the server's workers go with it
        [sys.executable, "-m", "kedro", "mlflow", "ui", "--port", str(port)],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    # a busy machine answers slowly: no request may fall to httpx's 5 s default
    client = httpx.Client(timeout=120)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                model = client.get(
                    f"{api}/registered-models/get", params={"name": "daily_pnl"}
                )
                break
            except httpx.TransportError:
                assert ui.poll() is None, "kedro mlflow ui exited"
                assert time.monotonic() < deadline, "the UI did not start in 240 s"
                time.sleep(2)
        aliases = {a["alias"] for a in model.json()["registered_model"]["aliases"]}
        assert "champion" in aliases
        assert client.get(f"http://127.0.0.1:{port}/").status_code == 200  # the UI page
        experiment = client.get(
            f"{api}/experiments/get-by-name", params={"experiment_name": "daily_pnl"}
        ).json()["experiment"]
        runs = client.post(
            f"{api}/runs/search",
            json={"experiment_ids": [experiment["experiment_id"]], "max_results": 50},
        ).json()["runs"]
        trained = [
            r
            for r in runs
            if any(m["key"] == "test_mae" for m in r["data"].get("metrics", []))
        ]
        assert trained
        plots = client.get(
            f"{api}/artifacts/list",
            params={"run_id": trained[0]["info"]["run_id"], "path": "plots"},
        ).json()["files"]
        assert "plots/shap_summary.png" in {f["path"] for f in plots}
    finally:
        client.close()
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)
