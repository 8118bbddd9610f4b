"""What the pages write (exports, reports, training jobs) stays inside the allowed folders, and a
failing job or callback shows a short message instead of a traceback."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.adversarial.app_inputs import (
    assert_no_failure,
    start,
)

# -- what the pages write --------------------------------------------------------------------


def test_curate_refuses_an_export_folder_outside_the_roots(hostile_world, watch):
    outside = watch(hostile_world.outside)
    at = start("curate")
    target = hostile_world.outside / "exports" / "cleaned"
    at.text_input(key="curate.out").input(str(target)).run()
    at.button(key="curate.export").click().run()
    assert_no_failure(at)
    want = "The export was not written: " + hostile_world.outside_message(
        "The output folder", str(target)
    )
    assert [e.value for e in at.error] == [want]
    outside.assert_unchanged()
    at.text_input(key="curate.out").input(str(hostile_world.allowed / "notes.txt")).run()
    at.button(key="curate.export").click().run()
    assert [e.value for e in at.error] == [
        "The export was not written: The output folder "
        f"`{hostile_world.allowed / 'notes.txt'}` is a file, not a folder. Give a new folder, or "
        "an earlier export to replace."
    ]
    assert (hostile_world.allowed / "notes.txt").read_text() == "not a manifest"


def test_compare_refuses_a_series_and_a_report_folderoutside_message_for(
    hostile_world, watch, app_world
):
    outside = watch(hostile_world.outside)
    at = start("compare")
    at.text_input(key="compare.curated").input(str(hostile_world.outside / "series")).run()
    assert_no_failure(at)
    assert hostile_world.outside_message(
        "The checkpoint folder", str(hostile_world.outside / "series")
    ) in [e.value for e in at.error]
    at.text_input(key="compare.curated").input(str(app_world["curated"])).run()
    assert hostile_world.outside_message("The checkpoint folder", str(app_world["curated"])) in [
        e.value for e in at.error
    ]  # the shared tmp folder is not a root here; copy it into the allowed one
    shutil.copytree(app_world["curated"], hostile_world.allowed / "curated")
    at.text_input(key="compare.curated").input(str(hostile_world.allowed / "curated")).run()
    at.number_input(key="compare.n").set_value(1).run()
    at.number_input(key="compare.limit").set_value(10).run()
    at.button(key="compare.run").click().run()
    assert_no_failure(at)
    report = hostile_world.outside / "report"
    at.text_input(key="compare.out").input(str(report)).run()
    at.button(key="compare.write").click().run()
    assert [e.value for e in at.error] == [
        "The report was not written: "
        + hostile_world.outside_message("The report folder", str(report))
    ]
    outside.assert_unchanged()


RETRAIN = [
    pytest.param(
        "retrain.manifest",
        lambda w: str(w.outside / "pets" / "manifest.csv"),
        "The cleaned manifest",
        id="manifest-outside",
    ),
    pytest.param(
        "retrain.recipe", lambda w: str(w.outside / "secret.txt"), "The recipe", id="recipe-outside"
    ),
    pytest.param(
        "retrain.out",
        lambda w: str(w.outside / "series2"),
        "The new series folder",
        id="out-outside",
    ),
    pytest.param("retrain.out", lambda w: "/etc/cron.d", "The new series folder", id="out-etc"),
]


@pytest.mark.parametrize(("key", "value", "what"), RETRAIN)
def test_retrain_refuses_pathsoutside_message_for(hostile_world, watch, key, value, what):
    outside = watch(hostile_world.outside)
    (hostile_world.ws / "exports" / "cleaned").mkdir(parents=True)
    shutil.copy(
        hostile_world.data / "manifest.csv",
        hostile_world.ws / "exports" / "cleaned" / "manifest.csv",
    )
    at = start("retrain")
    at.text_input(key=key).input(value(hostile_world)).run()
    assert_no_failure(at)
    assert [i.value for i in at.info] == [hostile_world.outside_message(what, value(hostile_world))]
    assert not _has_button(at, "retrain.start")
    outside.assert_unchanged()
    assert not (hostile_world.ws / "jobs").exists()


def _has_button(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def test_a_failed_job_shows_its_error_without_the_traceback(hostile_world):
    import sys

    from workbench import jobs

    job = jobs.start(hostile_world.ws, [sys.executable, "-c", "raise RuntimeError('at /secret/x')"])
    assert job.wait(timeout=60) == "failed"
    assert 'File "<string>"' in jobs.read_log(job)  # the server's log keeps everything
    at = start("retrain")
    assert_no_failure(at)
    (log,) = [c.value for c in at.code if "RuntimeError" in c.value]
    assert log == (
        "(traceback omitted here; it is in the job's log file on the server)\n"
        "RuntimeError: at /secret/x"
    )


def test_retrain_keeps_its_whole_number_check(hostile_world):
    at = start("retrain")
    at.text_input(key="retrain.manifest").input(str(hostile_world.data / "manifest.csv")).run()
    at.text_input(key="retrain.epochs").input("1e20").run()
    assert [i.value for i in at.info] == ["Epochs must be a whole number ≥ 1, not `1e20`."]
