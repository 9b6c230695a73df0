"""``app.when_serving``: warm-ups run once the server answers, not during start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scs_server import hookimpl

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.testing import ServerFactory


class WarmUp:
    """A plugin registering a ``when_serving`` callback from its start-up hook."""

    def __init__(self) -> None:
        self.serving_at_startup: bool | None = None
        self.runs: list[bool] = []

    @hookimpl
    def scs_startup(self, app: App) -> None:
        self.serving_at_startup = app.serving
        app.when_serving(lambda: self.runs.append(app.serving))


async def test_callbacks_run_once_when_the_server_answers(scs_factory: ServerFactory) -> None:
    warm = WarmUp()
    server = await scs_factory("sessions,warm", http=True, extra_plugins={"warm": warm})
    assert warm.serving_at_startup is False  # registered during start-up: not run there
    assert warm.runs == [True]  # run once, after the server was up
    server.app.begin_serving()  # a second call changes nothing
    assert warm.runs == [True]
    late: list[str] = []
    server.app.when_serving(lambda: late.append("ran"))  # after the moment: at once
    assert late == ["ran"]
    alice = await server.agent("alice")
    assert (await alice.call("create_session", purpose="still serves"))["session_id"]
