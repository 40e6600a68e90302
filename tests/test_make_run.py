"""`make run` tells the app where it is reached: PUBLIC_BASE_URL from its HOST and PORT (printed
posters, QR codes and links use it), unless the user set one. Read with `make -n`."""

from tests.reliability.server import make_run_commands, split_command


def app_commands(**variables: str) -> dict[str, dict[str, str]]:
    """The environment of each `flask --app wsgi …` command of `make run`, by subcommand."""
    commands = {}
    for line in make_run_commands(**variables):
        assignments, words = split_command(line)
        if words[1:3] == ["--app", "wsgi"]:
            commands[words[3]] = assignments
    return commands


def test_make_run_on_another_port_tells_setup_and_the_server_that_port(monkeypatch):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    commands = app_commands(PORT="5103")
    assert set(commands) == {"setup", "serve"}
    for assignments in commands.values():
        assert assignments["PUBLIC_BASE_URL"] == "http://127.0.0.1:5103"
        assert assignments["SURVEY_ENV"] == "development"


def test_make_run_keeps_a_public_base_url_the_user_set(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://192.168.1.20:5103")
    from_environment = app_commands(HOST="0.0.0.0", PORT="5103")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    from_command_line = app_commands(PUBLIC_BASE_URL="https://khaosat.example.gov.vn")
    for assignments in from_environment.values():
        assert assignments["PUBLIC_BASE_URL"] == "http://192.168.1.20:5103"
    for assignments in from_command_line.values():
        assert assignments["PUBLIC_BASE_URL"] == "https://khaosat.example.gov.vn"
