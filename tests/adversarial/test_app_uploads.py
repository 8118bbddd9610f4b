"""Uploaded photos: refused before decoding when too big, damaged or not an image, in
workbench.access and on the Search page; temporary files always removed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from curation.dataset import load_dataset
from curation.store import TagStore
from tests.adversarial.app_inputs import (
    assert_no_failure,
    photo_bytes,
    start,
)
from tests.adversarial.conftest import run_bounded
from workbench import access
from workbench.access import AccessError, UploadLimits


def test_bad_uploads_are_refused_before_decoding(bad_upload, upload_name, upload_message):
    with pytest.raises(AccessError) as err:
        access.check_upload(bad_upload, upload_name)
    message = str(err.value)
    if "26 bytes not processed" in upload_message:  # the count depends on where the cut falls
        message = re.sub(r"\(\d+ bytes not processed\)", "(26 bytes not processed)", message)
    assert message == upload_message


def test_a_good_upload_passes_with_its_size():
    data = photo_bytes("PNG", (300, 200))
    checked = access.check_upload(data, "cat.png")
    assert (checked.format, checked.size, checked.suffix, checked.data) == (
        "PNG", (300, 200), ".png", data
    )  # fmt: skip
    limits = UploadLimits(max_bytes=10**6, max_pixels=300 * 200)  # exactly at the cap: allowed
    assert access.check_upload(data, "cat.png", limits).size == (300, 200)
    with pytest.raises(AccessError, match=r"is 300×200 pixels \(0\.1 MP\)"):
        access.check_upload(data, "cat.png", UploadLimits(10**6, 300 * 200 - 1))


def test_upload_limits_from_the_environment():
    assert UploadLimits.from_env({}) == UploadLimits(20_000_000, 25_000_000)
    got = UploadLimits.from_env({access.ENV_UPLOAD_MB: "2.5", access.ENV_UPLOAD_PIXELS: "1000"})
    assert got == UploadLimits(2_500_000, 1000)
    with pytest.raises(AccessError, match="must be a number of megabytes"):
        UploadLimits.from_env({access.ENV_UPLOAD_MB: "lots"})
    with pytest.raises(AccessError, match="must be positive"):
        UploadLimits.from_env({access.ENV_UPLOAD_PIXELS: "0"})


BOUNDED_CHECK = """
import sys
from pathlib import Path
from workbench.access import AccessError, check_upload
data = Path(sys.argv[1]).read_bytes()
try:
    check_upload(data, "bomb.png")
except AccessError as exc:
    print(exc)
"""
BOUNDED_DECODE = """
import sys
from PIL import Image
with Image.open(sys.argv[1]) as img:
    img.load()
print("decoded", img.size)
"""


def test_the_bomb_check_stays_within_300_mb_where_decoding_does_not(tmp_path, bomb):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    checked = run_bounded(["-c", BOUNDED_CHECK, str(path)], memory_mb=300, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("`bomb.png` is 12000×12000 pixels (144.0 MP)")
    # the control: what the page did before (decode it) does not fit in the same bound
    decoded = run_bounded(["-c", BOUNDED_DECODE, str(path)], memory_mb=300, timeout=120)
    assert decoded.returncode != 0 and "MemoryError" in decoded.stderr, decoded.stdout


def test_a_temporary_upload_is_removed_also_when_the_body_fails(tmp_path):
    checked = access.check_upload(photo_bytes(), "dog.jpg")
    with access.temporary_upload(checked, tmp_path / "uploads") as path:
        assert path.parent == tmp_path / "uploads" and path.read_bytes() == checked.data
        assert path.suffix == ".jpg" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert list((tmp_path / "uploads").iterdir()) == []
    with pytest.raises(RuntimeError), access.temporary_upload(checked, tmp_path / "uploads"):
        raise RuntimeError("the page failed")
    assert list((tmp_path / "uploads").iterdir()) == []


TRACEBACK_LOG = """epoch 1/3 done
Traceback (most recent call last):
  File "/srv/app/workbench/train.py", line 10, in <module>
    main()
  File "/srv/app/workbench/train.py", line 8, in main
    raise ValueError("bad value")
ValueError: bad value

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/x.py", line 2, in <module>
RuntimeError: gave up
"""


def test_job_logs_lose_their_traceback_frames_but_keep_the_error():
    assert access.without_tracebacks(TRACEBACK_LOG) == (
        "epoch 1/3 done\n"
        "(traceback omitted here; it is in the job's log file on the server)\n"
        "ValueError: bad value\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "(traceback omitted here; it is in the job's log file on the server)\n"
        "RuntimeError: gave up\n"
    )
    tail = "\n".join(TRACEBACK_LOG.split("\n")[4:7])  # a tail that starts at a frame
    assert access.without_tracebacks(tail) == "ValueError: bad value"
    assert access.without_tracebacks("plain\n  indented output\n") == "plain\n  indented output\n"


# -- uploads on the Search page --------------------------------------------------------------


def test_bad_uploads_on_the_search_page(hostile_world, bad_upload, upload_name, upload_message):
    at = start("search")
    at.file_uploader(key="search.upload").upload(upload_name, bad_upload).run()
    assert_no_failure(at)
    errors = [re.sub(r"\(\d+ bytes not processed\)", "(26 bytes not processed)", e.value)
              for e in at.error]  # fmt: skip
    assert errors == [f"This file cannot be searched: {upload_message}"]
    uploads = hostile_world.ws / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_a_good_upload_is_searched_and_its_temporary_file_removed(hostile_world):
    ds = load_dataset(hostile_world.data)
    photo = ds.path(ds.split("query")["image"].iloc[0]).read_bytes()
    at = start("search")
    at.file_uploader(key="search.upload").upload("lost-cat.jpg", photo, "image/jpeg").run()
    assert_no_failure(at)
    assert at.metric and at.metric[0].label.startswith("Best match: post ")
    assert at.get("image")[0].proto.imgs[0].caption == "your photo"
    assert list((hostile_world.ws / "uploads").iterdir()) == []  # before: uploads/<sha1>.jpg stayed


def test_the_temporary_upload_is_removed_when_the_page_fails(hostile_world, monkeypatch, caplog):
    import explain.retrieval.lookup

    seen = []

    def broken(member, paths, **kw):
        seen.extend(Path(p) for p in paths)
        assert all(Path(p).exists() for p in paths)
        raise RuntimeError("embedding exploded at /secret/location")

    monkeypatch.setattr(explain.retrieval.lookup, "embed_photos", broken)
    ds = load_dataset(hostile_world.data)
    photo = ds.path(ds.split("query")["image"].iloc[0]).read_bytes()
    at = start("search")
    with caplog.at_level(logging.ERROR, logger="workbench.app"):
        at.file_uploader(key="search.upload").upload("dog.jpg", photo, "image/jpeg").run()
    assert seen and not any(p.exists() for p in seen)
    assert list((hostile_world.ws / "uploads").iterdir()) == []
    (error,) = [e.value for e in at.error]
    ref = re.fullmatch(
        r"Unexpected error on the server \(reference `([0-9a-f]{10})`\)\. The details are in "
        r"the server log under this reference; try again, or tell whoever runs the app\.",
        error,
    ).group(1)
    assert "secret" not in error and not at.exception
    (record,) = [r for r in caplog.records if ref in r.getMessage()]
    assert record.getMessage() == f"unexpected error in page Search (reference {ref})"
    assert record.exc_info and "embedding exploded" in str(record.exc_info[1])


def test_an_unexpected_error_in_a_callback_is_a_short_message(hostile_world, monkeypatch, caplog):
    def broken(self, *a, **kw):
        raise RuntimeError("disk controller on fire")

    monkeypatch.setattr(TagStore, "set_bucket", broken)
    at = start("triage")
    at.text_input(key="workspace.annotator").input("eve").run()
    with caplog.at_level(logging.ERROR, logger="workbench.app"):
        at.button(key="triage.b.missed").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("Unexpected error on the server (reference `")
    assert "fire" not in error
    (record,) = [r for r in caplog.records if "callback decide" in r.getMessage()]
    assert "disk controller on fire" in str(record.exc_info[1])
