"""Themes: grouping as items arrive, and what a reviewer does sticks."""

from ceoline.insights.labels import Item
from ceoline.insights.themes import ThemeBook, assign, title_for
from ceoline.store import Store, TurnRecord
from ceoline.web import queries


def item(quote: str, kind: str = "complaint", area: str = "invoices", urgency="normal") -> Item:
    return Item(kind, area, "negative", urgency, quote, False, "rules")


SLOW = [
    "The invoice screen is really slow once you have a hundred clients.",
    "Opening the invoices page takes forever now that I have lots of clients.",
    "My invoice screen is so slow to load with all my clients on it.",
]
WISH = "Please add repeating invoices, I bill the same clients every month."


def test_paraphrases_join_one_theme_and_a_wish_in_the_same_area_stays_apart():
    book = ThemeBook()
    slow = {book.place(f"s{n}", item(q)) for n, q in enumerate(SLOW)}
    wish = book.place("w", item(WISH, kind="suggestion"))
    assert len(slow) == 1 and wish not in slow
    assert "slow" in title_for(SLOW)


def test_each_urgent_harm_is_its_own_theme():
    book = ThemeBook()
    charged = book.place("a", item("I was charged twice for my plan.", area="payments",
                                   urgency="high"))  # fmt: skip
    missing = book.place("b", item("My payout never arrived in my account.", area="payments",
                                   urgency="high"))  # fmt: skip
    assert charged != missing


def a_call(store: Store, *lines: str) -> str:
    call_id = store.create_call("simulated", "t.wav", "Theo")
    for n, line in enumerate(lines):
        store.add_turn(call_id, TurnRecord("caller", line, n * 4000, n * 4000 + 2000, {}))
    return call_id


def save(store: Store, call_id: str, items: list[Item]) -> list[int]:
    theme_ids = assign(store, items, "2000-01-01")
    data = {
        "summary": "s",
        "summary_method": "rules",
        "items": [{**vars(i), "theme_id": t} for i, t in zip(items, theme_ids, strict=True)],
    }
    store.save_insights(call_id, data)
    return theme_ids


def test_a_reviewers_merge_rename_and_split_survive_new_items(tmp_path):
    store = Store.open(tmp_path)
    (slow,) = set(save(store, a_call(store, *SLOW[:2]), [item(q) for q in SLOW[:2]]))
    (other,) = save(store, a_call(store, "The invoice PDF looks blurry."),
                    [item("The invoice PDF looks blurry.")])  # fmt: skip
    if other == slow:  # the grouping put them together: split it first
        items = queries.theme_items(store, slow)
        blurry = [i["id"] for i in items if "blurry" in i["quote"]]
        other = queries.split_theme(store, slow, blurry, "Blurry PDFs", "rita")
        assert other
    assert queries.merge_themes(store, other, slow, "rita")
    assert queries.rename_theme(store, slow, "Invoice list slow for big client lists", "rita")
    (joined,) = save(store, a_call(store, SLOW[2]), [item(SLOW[2])])
    assert joined == slow
    (theme,) = [t for t in queries.theme_list(store, 7) if t["id"] == slow]
    assert theme["name"] == "Invoice list slow for big client lists"
    assert theme["count"] == 4 and theme["trend"] == "new" and len(theme["quotes"]) == 3
    assert not queries.merge_themes(store, other, slow, "rita")  # already merged
    moved = queries.split_theme(store, slow, [i["id"] for i in queries.theme_items(store, slow)
                                              if "blurry" in i["quote"]], "", "rita")  # fmt: skip
    assert moved and moved != slow
    assert len(queries.theme_items(store, slow)) == 3
    store.close()


def test_the_worker_files_new_items_into_themes_and_the_cli_lists_them(tmp_path):
    import json
    import subprocess
    import sys

    from ceoline.config import parse_config_file
    from ceoline.insights.worker import InsightsWorker

    from ..conftest import ROOT, make_config

    lines = [{"name": "us", "number": "hotline"}, {"name": "se", "number": "hotline-se"}]
    path = make_config(tmp_path, insights={"use_model": False}, lines=lines)
    config = parse_config_file(path)
    store = Store.open(config.data_dir)
    for n, said in enumerate(SLOW):
        call_id = a_call(store, said)
        store.db.execute("UPDATE calls SET line = ? WHERE id = ?", ["se" if n else "us", call_id])
        store.end_call(call_id, "caller_hangup", 5.0)
    worker = InsightsWorker(config, store, model_factory=lambda c: None)
    assert worker.run_pending() == 3
    store.close()
    done = subprocess.run(
        [sys.executable, "-m", "ceoline", "themes", "--json", "--config", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (theme,) = json.loads(done.stdout)
    assert theme["count"] == 3 and theme["product_area"] == "invoices"
    text = subprocess.run(
        [sys.executable, "-m", "ceoline", "themes", "--config", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    ).stdout  # fmt: skip
    assert "3 items, new" in text and SLOW[0] in text
    done = subprocess.run(
        [sys.executable, "-m", "ceoline", "themes", "--line", "us", "--json",
         "--config", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    (theme,) = json.loads(done.stdout)
    assert theme["count"] == 1 and theme["quotes"] == [SLOW[0]]
