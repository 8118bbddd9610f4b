"""The Triage page through AppTest: what is drawn as decided, notes, N, the decision's time,
the annotator and the query in the address, and the pure helpers behind them."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from curation.store import TagStore
from tests import test_app
from tests.test_app import open_page
from ui.format import CHECKER, on_checkerboard, pct
from ui.queries import decision, next_unreviewed, note_text

app = test_app.app  # the fixture, shared with the other page tests


def on_screen(at) -> tuple[int, str]:
    """(position, image) of the query Triage shows."""
    nav = next(m.value for m in at.markdown if re.match(r"\*\*\d+ / \d+\*\*", m.value))
    return int(nav[2 : nav.index(" /")]), re.search(r"`([^`]+)`", nav).group(1)


def named(app, name: str = "alice"):
    app.text_input(key="workspace.annotator").input(name).run()
    return open_page(app, "triage")


def test_note_box_is_empty_for_a_decided_query_without_a_note(app, tmp_path):
    at = named(app)
    at.toggle(key="triage.advance").set_value(False).run()
    _, first = on_screen(at)
    at.button(key="triage.b.worked").click().run()
    note = at.text_area(key=f"triage.note.{first}")
    assert note.value == ""  # the store's missing note is not the text "nan"
    at.button(key="triage.save_note").click().run()
    assert TagStore(tmp_path / "tags.sqlite").current().set_index("image").at[first, "note"] == ""


def test_the_decision_is_drawn_selected_and_the_suggestion_as_a_hint(app):
    at = named(app)
    at.toggle(key="triage.advance").set_value(False).run()
    suggested = [b for b in ("worked", "missed", "spurious")
                 if at.button(key=f"triage.b.{b}").proto.icon]  # fmt: skip
    assert len(suggested) <= 1
    assert all(
        at.button(key=f"triage.b.{b}").proto.type == "secondary"
        for b in ("worked", "missed", "spurious")
    )  # nothing decided: nothing filled
    other = next(b for b in ("worked", "missed", "spurious") if b not in suggested)
    at.button(key=f"triage.b.{other}").click().run()
    types = {b: at.button(key=f"triage.b.{b}").proto.type for b in ("worked", "missed", "spurious")}
    assert types == {b: "primary" if b == other else "secondary" for b in types}
    if suggested:  # the hint stays on the suggested bucket, not on the decision
        assert at.button(key=f"triage.b.{suggested[0]}").proto.icon
        assert at.button(key=f"triage.b.{suggested[0]}").proto.type == "secondary"
    assert any(m.value.startswith(f"**Decision: {other}**") for m in at.markdown)


def test_an_unsaved_note_is_saved_when_moving_on(app, tmp_path):
    at = named(app)
    _, first = on_screen(at)
    at.text_area(key=f"triage.note.{first}").input("collar visible").run()
    at.button(key="triage.next").click().run()
    assert on_screen(at)[1] != first
    state = TagStore(tmp_path / "tags.sqlite").current().set_index("image")
    assert state.at[first, "note"] == "collar visible"
    at.button(key="triage.prev").click().run()
    assert at.text_area(key=f"triage.note.{first}").value == "collar visible"


def test_without_a_name_the_note_is_kept_in_the_session(app, tmp_path):
    at = open_page(app, "triage")
    _, first = on_screen(at)
    at.text_area(key=f"triage.note.{first}").input("two dogs?").run()
    at.button(key="triage.next").click().run()
    assert any("kept, unsaved" in w.value for w in at.warning)
    at.button(key="triage.prev").click().run()
    assert at.text_area(key=f"triage.note.{first}").value == "two dogs?"
    assert TagStore(tmp_path / "tags.sqlite").count() == 0


def test_n_goes_to_the_next_undecided_query_and_counts_the_current_one(app):
    at = named(app)
    at.toggle(key="triage.advance").set_value(False).run()
    at.button(key="triage.unreviewed").click().run()  # query 1 is undecided: N stays on it
    assert on_screen(at)[0] == 1
    assert any("next undecided one" in s.value for s in at.success)
    at.button(key="triage.b.worked").click().run()  # decide 1
    at.button(key="triage.next").click().run()
    at.button(key="triage.next").click().run()
    at.button(key="triage.b.missed").click().run()  # decide 3
    at.button(key="triage.prev").click().run()
    at.button(key="triage.prev").click().run()  # back on 1 (decided)
    at.button(key="triage.unreviewed").click().run()
    assert on_screen(at)[0] == 2  # the undecided query right after, not skipped
    at.button(key="triage.b.spurious").click().run()  # decide 2
    at.button(key="triage.unreviewed").click().run()
    assert on_screen(at)[0] == 4  # 3 is decided


def test_decided_at_shows_the_decision_time_not_a_later_note(app, tmp_path):
    at = named(app)
    at.toggle(key="triage.advance").set_value(False).run()
    _, first = on_screen(at)
    at.button(key="triage.b.missed").click().run()
    time.sleep(1.1)  # the info shows seconds: a note a second later must not move it
    at.text_area(key=f"triage.note.{first}").input("later note").run()
    at.button(key="triage.save_note").click().run()
    history = TagStore(tmp_path / "tags.sqlite").history(first)
    at_bucket = history.loc[history["action"] == "bucket", "time"].iloc[-1]
    shown = next(i.value for i in at.info if i.value.startswith("Decided "))
    assert at_bucket.strftime("%Y-%m-%d %H:%M:%S") in shown
    assert history["time"].iloc[-1].strftime("%H:%M:%S") not in shown


def test_the_annotator_and_the_query_live_in_the_address(app, app_world):
    at = named(app, "bea")
    _, first = on_screen(at)
    assert at.query_params["annotator"] == "bea"
    assert at.query_params["query"] == first
    at.button(key="triage.next").click().run()
    second = on_screen(at)[1]
    assert at.query_params["query"] == second
    # a reload of that address: a new session starts from it
    fresh = type(at).from_file(at._script_path, default_timeout=180)
    fresh.query_params.update({"annotator": "bea", "query": second})
    fresh.run()
    fresh = open_page_keeping(fresh, "triage", {"annotator": "bea", "query": second})
    assert fresh.text_input(key="workspace.annotator").value == "bea"
    assert on_screen(fresh)[1] == second


def open_page_keeping(at, page: str, params: dict):
    """Open ``page`` as a link with ``params`` would (AppTest's switch_page drops them)."""
    at.switch_page(f"app_pages/{page}.py")
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_stale_query_in_the_address_warns(app):
    at = open_page_keeping(app, "triage", {"query": "query/nope_1.jpg"})
    assert any("query/nope_1.jpg" in w.value and "not a query photo" in w.value
               for w in at.warning)  # fmt: skip
    assert on_screen(at)[0] == 1
    at = open_page_keeping(at, "triage", {"epoch": "999"})
    assert any("epoch `999`" in w.value for w in at.warning)


# -- the helpers -----------------------------------------------------------------------------


def test_note_text_never_shows_nan():
    assert note_text(None) == "" and note_text(float("nan")) == "" and note_text(np.nan) == ""
    assert note_text("ok") == "ok"


@pytest.mark.parametrize(
    ("decided", "pos", "want"),
    [
        ([False, False, False], 0, 0),  # the current one counts
        ([True, False, False], 0, 1),
        ([True, True, False, False], 1, 2),
        ([False, True, True], 1, 0),  # wraps round
        ([True, True], 0, None),
        ([True, False, True], 2, 1),
    ],
)
def test_next_unreviewed(decided, pos, want):
    assert next_unreviewed(decided, pos) == want


def test_decision_is_the_latest_bucket_in_force(tmp_path):
    store = TagStore(tmp_path / "t.sqlite")
    store.set_bucket("q/1_1.jpg", "worked", "a")
    store.set_bucket("q/1_1.jpg", "missed", "a")
    store.set_note("q/1_1.jpg", "n", "a")
    got = decision(store.history("q/1_1.jpg"))
    hist = store.history("q/1_1.jpg")
    assert got["bucket"] == "missed"
    assert got["time"] == hist["time"].iloc[1]
    store.undo("a")  # the note
    store.undo("a")  # missed
    assert decision(store.history("q/1_1.jpg"))["bucket"] == "worked"
    store.undo("a")
    assert decision(store.history("q/1_1.jpg")) is None
    assert decision(pd.DataFrame(columns=hist.columns)) is None


def test_black_background_becomes_a_checkerboard_but_the_animal_keeps_its_dark_pixels():
    img = np.zeros((40, 30, 3), np.uint8)
    img[10:30, 8:22] = 200  # the animal
    img[18:22, 13:17] = 0  # a dark eye inside it
    out = on_checkerboard(img, cell=4)
    assert set(np.unique(out[0:8, 0:8])) == set(CHECKER)
    assert (out[18:22, 13:17] == 0).all()
    assert (out[10:30, 8:22][out[10:30, 8:22] != 0] == 200).all()
    with pytest.raises(ValueError, match="cell >= 1"):
        on_checkerboard(img, cell=0)


def test_pct_has_the_digits_of_the_tables():
    assert pct(0.0042) == "0.42 %" and pct(0.5) == "50.00 %" and pct(None) == "—"
