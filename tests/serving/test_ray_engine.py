"""`cer serve` with the Ray engine: the server holds the Ray session its pipelines share, and
a job runs on expert actors, one per expert for all the workers. (Ray's processes die with the
thread that started them, so the session must come from the server's main thread, not from a
worker's.)"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from cer.serving.service import Service
from cer.serving.settings import Settings
from cer.serving.worker import EXIT_ENGINE_LOST
from tests.serving.live import threaded_server, wait_until

ONE_EXPERT = Path(__file__).with_name("one_expert.yaml")


def _expert_actors() -> Counter[str]:
    """The live expert actors of this Ray session, counted per expert (named `cer-<expert>-<id>`)."""
    import ray

    return Counter(name.rsplit("-", 1)[0].removeprefix("cer-") for name in ray.util.list_named_actors() if name.startswith("cer-"))


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_the_workers_share_one_actor_per_expert(tmp_path: Path, silent_clip: Path) -> None:
    """Two workers, one pool: each model loads once, both jobs run on it (one per compound
    method: the profile variants share the pool), and the pool goes when the server stops."""
    profile = tmp_path / "one_expert_ray.yaml"
    profile.write_text(f"extends: {ONE_EXPERT}\nexecution: {{engine: ray}}\n")
    with threaded_server(Settings(data_dir=tmp_path / "serve", profile=str(profile), concurrency=2)) as server, server.client(None) as api:
        assert api.wait_ready()["engine"] == "ray"
        assert _expert_actors() == {"static_face": 1}
        accepted = [api.submit(silent_clip, compound=method).json() for method in ("ppa", "pfsa")]
        assert [api.wait(job["id"])["status"] for job in accepted] == ["done", "done"]
        for job, method in zip(accepted, ("ppa", "pfsa"), strict=True):
            result = api.http.get(job["urls"]["result"]).json()
            assert result["windows"] and {w["compound"]["method"] for w in result["windows"]} == {method}
            assert result["experts"]["static_face"]["status"] == "ok"
        assert _expert_actors() == {"static_face": 1}
    deadline = time.monotonic() + 30  # Ray forgets a killed actor's name a moment later
    while _expert_actors() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _expert_actors()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_a_job_that_meets_a_dead_expert_actor_is_run_again_on_a_new_one(tmp_path: Path, silent_clip: Path) -> None:
    """An expert actor that Ray gave up (its restarts used up) does not give a job done with
    that expert absent: the job goes back to the queue, /readyz and uploads say why while the
    actor cannot be started again, the server gives up after a few tries (it would exit for its
    supervisor), and once the actor can be started the job runs whole."""
    import ray

    profile = tmp_path / "one_expert_ray.yaml"
    profile.write_text(f"extends: {ONE_EXPERT}\nexecution: {{engine: ray}}\n")
    settings = Settings(data_dir=tmp_path / "serve", profile=str(profile), concurrency=1)
    service = Service.open(settings)
    with threaded_server(settings, service=service) as server, server.client(None) as api:
        api.wait_ready()
        pool = service.pool.experts
        assert pool is not None
        recipe, pool.recipe = pool.recipe, None  # for now, the dead actor cannot be started again
        exits: list[int] = []
        service.pool.exit = exits.append  # the server would end here, for its supervisor to restart it
        [name] = pool.names.values()
        ray.kill(ray.get_actor(name), no_restart=True)

        job = api.submit(silent_clip).json()
        wait_until(lambda: "cannot be started again" in (api.http.get("/readyz").json()["engine_error"] or ""), 60, "the restart to fail")
        readiness = api.http.get("/readyz")
        assert readiness.status_code == 503 and "static_face expert's engine failed" in readiness.json()["engine_error"]
        refused = api.submit(silent_clip)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "engine_down"
        assert api.job(job["id"])["status"] == "queued"
        wait_until(lambda: exits == [EXIT_ENGINE_LOST], 60, "giving up")  # after MAX_FAILED_REVIVALS tries

        pool.recipe = recipe  # the engine can be put right again: the waiting job runs whole
        finished = api.wait(job["id"])
        assert finished["status"] == "done" and finished["attempts"] == 2
        assert api.http.get(job["urls"]["result"]).json()["experts"]["static_face"]["status"] == "ok"
        assert api.http.get("/readyz").status_code == 200
        assert name in ray.util.list_named_actors()  # started again under its own name
