"""The strict requirement reader, and the pip and bubblewrap command lines built for the wheel cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from canopy.errors import ValidationFailed
from canopy.models.requirements import checked_requirements, parse_requirements, requirement_problem
from canopy.workloads.pip_sandbox import HostSandbox, host_bwrap_argv, pip_options, scrubbed_env
from canopy.workloads.wheels import download_command


@pytest.mark.parametrize(
    "text",
    [
        "numpy",
        "numpy==1.22.4",
        "scikit-learn[alldeps]>=1.0,<2",
        'pandas~=1.4; python_version < "3.11"',
        "requests!=2.27.0",
        "Flask==2.0.*",
        "zope.interface>5",
    ],
)
def test_index_requirements_are_accepted(text: str) -> None:
    assert requirement_problem(text) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("pwn @ http://127.0.0.1/pwn-1.0.tar.gz", "direct URLs"),
        ("pwn@file:///tmp/pwn", "direct URLs"),
        ("https://127.0.0.1/pwn-1.0.tar.gz", "direct URLs"),
        ("git+https://example.invalid/pwn.git", "VCS"),
        ("hg+http://example.invalid/pwn", "VCS"),
        ("./pwn", "local paths"),
        ("../pwn", "local paths"),
        ("~/pwn", "local paths"),
        ("pwn/sub", "local paths"),
        ("C:\\pwn", "local paths"),
        ("pwn-1.0.tar.gz", "looks like a file"),
        ("pwn-1.0-py3-none-any.whl", "looks like a file"),
        ("pwn.zip", "looks like a file"),
        ("-r other.txt", "pip options such as '-r'"),
        ("--requirement=other.txt", "pip options"),
        ("-e .", "pip options"),
        ("-c constraints.txt", "pip options"),
        ("-f http://127.0.0.1/links", "pip options"),
        ("--index-url http://127.0.0.1/simple", "pip options"),
        ("--extra-index-url http://127.0.0.1/simple", "pip options"),
        ("--trusted-host 127.0.0.1", "pip options"),
        ("--hash=sha256:00", "pip options"),
        ("numpy==1.0 --hash=sha256:00", "not a valid requirement"),
        ("numpy===1.0", "operator '==='"),
        ("numpy==", "'==' has no version"),
        ("numpy>=1.0,<", "'<' has no version"),
        ("numpy==${VERSION}", "environment variables"),
        ("numpy\n-e .", "control character"),
        ("numpy\t==1", "control character"),
        ("x" * 401, "longer than"),
        ("not a requirement!!", "not a valid requirement"),
    ],
)
def test_everything_but_index_requirements_is_refused(text: str, reason: str) -> None:
    problem = requirement_problem(text)
    assert problem is not None and reason in problem


def test_files_may_hold_comments_and_blank_lines_and_problems_name_the_line() -> None:
    kept, problems = parse_requirements(
        ["# pinned", "numpy==1.22.4  # why", "", "pwn @ http://127.0.0.1/p.tar.gz"], "requirements.txt:{line}"
    )
    assert kept == ["numpy==1.22.4"]
    assert list(problems) == ["requirements.txt:4"] and "pwn @ http" in problems["requirements.txt:4"]


def test_checked_requirements_raises_naming_each_entry() -> None:
    assert checked_requirements(["numpy==1.0"], "x") == ["numpy==1.0"]
    with pytest.raises(ValidationFailed) as raised:
        checked_requirements(["numpy==1.0", "-e .", "git+https://h/p"], "the requirements of model m1")
    assert set(raised.value.details) == {"requirements[1]", "requirements[2]"}
    assert raised.value.message.startswith("the requirements of model m1 refused: requirements[1]: '-e .'")


def test_pip_downloads_binary_wheels_only_with_no_configuration_and_bounded_waits(tmp_path: Path) -> None:
    command = download_command(tmp_path / "requirements.txt", tmp_path, "3.9")
    assert "--only-binary=:all:" in command and "--no-binary" not in " ".join(command)
    for option in ("--isolated", "--no-input", "--timeout", "--cache-dir"):
        assert option in command
    assert command[command.index("--python-version") + 1] == "3.9"
    assert pip_options(tmp_path)[-1] == str(tmp_path)


def test_the_environment_holds_nothing_but_path_home_lang_and_no_pip_config(tmp_path: Path) -> None:
    assert scrubbed_env(tmp_path) == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": "/dev/null",
    }


def test_bubblewrap_hides_the_platform_home_and_binds_back_only_the_target(tmp_path: Path) -> None:
    home, target, work = tmp_path / "home", tmp_path / "home" / "wheels" / "k", tmp_path / "work"
    home.mkdir()
    argv = host_bwrap_argv(
        ["pip", "download"], HostSandbox(hidden=(home, tmp_path / "absent"), writable=(target,)), work
    )
    assert argv[:4] == ["bwrap", "--ro-bind", "/", "/"]
    pairs = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)]
    assert ("--tmpfs", str(home)) in pairs and ("--tmpfs", str(tmp_path / "absent")) not in pairs
    hidden_at, bound_at = argv.index(str(home)), argv.index("--bind")
    assert hidden_at < bound_at and argv[bound_at + 1 : bound_at + 3] == [str(target), str(target)]
    for flag in ("--unshare-all", "--share-net", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[-3:] == ["--", "pip", "download"]
