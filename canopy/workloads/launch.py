"""What a workload runs, decided purely: the command of a model server or an app, and an app's variables."""

from __future__ import annotations

from canopy.contracts.deploy import WorkloadSpec

RUNNER = "platform_sdk.runner"
SERVER = "platform_sdk.serving"


def launch_command(spec: WorkloadSpec, python: str, package: str, host: str, port: int) -> list[str]:
    """A model server serving `package` on host:port, or the app's entry run by the SDK's runner."""
    if spec.kind == "app":
        return [python, "-m", RUNNER, spec.entry]
    command = [python, "-m", SERVER, "--package", package, "--host", host, "--port", str(port)]
    return [*command, "--model-id", spec.model_id]


def app_variables(spec: WorkloadSpec, api_url: str, port: int) -> dict[str, str]:
    """An app's own variables: the instance's (id, credential, ...), the gateway URL and its page port.

    Nothing for a model: model servers get no platform variable at all.
    """
    if spec.kind != "app":
        return {}
    variables = {**spec.env, "CANOPY_API_URL": api_url}
    if spec.page_port:
        variables["CANOPY_APP_PORT"] = str(port)
    return variables


def listen_port(spec: WorkloadSpec, free: int) -> int:
    """The port the workload listens on in a shared network: a free one, or the port a legacy app fixes."""
    return spec.page_port if spec.kind == "app" and spec.fixed_port else free


def has_endpoint(spec: WorkloadSpec) -> bool:
    """Whether the workload serves HTTP: every model, and apps with a page."""
    return spec.kind == "model" or spec.page_port > 0
