"""``vtg demo`` in a real browser: upload a PyAV-written video, type two
queries, find the moments; the table, the plots and the submission must be
those of the same model run directly, and a click on a moment must seek the
player. Saves a screenshot."""
import importlib.util
import json
from pathlib import Path

import pytest

from vtg_plugins.apis import MomentRetrievalInferencer
from vtg_plugins.webdemo import moment_rows

REPO = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETUPS = _load(REPO / 'tests' / 'apis' / 'tiny_setups.py', 'tiny_setups')
BROWSER = _load(Path(__file__).with_name('browser.py'), 'demo_browser')
QUERIES = ['a red thing', 'green']
TOP_K = 5

#: the moments table's cells as ``[[text per column] per row]`` (its
#: data cells carry ``data-row`` / ``data-col``; Gradio also renders a
#: hidden copy of the first row to measure widths)
TABLE_JS = """() => {
  const rows = [];
  for (const td of document.querySelectorAll('#vtg-moments td[data-row]')) {
    const r = +td.dataset.row, c = +td.dataset.col;
    (rows[r] = rows[r] || [])[c] = td.innerText.trim();
  }
  return rows;
}"""


def _cell(page, row: int, col: int):
    return page.locator(f'#vtg-moments td[data-row="{row}"][data-col="{col}"]')


@pytest.mark.slow
def test_demo_page_in_chromium(tmp_path):
    chromium = BROWSER.chromium_or_skip()
    from playwright.sync_api import sync_playwright
    s = SETUPS.write_r2_setup(tmp_path, 12)
    expected = MomentRetrievalInferencer(
        s.cfg, s.ckpt, clip_checkpoint=s.clip)(s.video, QUERIES)
    want = moment_rows(expected, TOP_K)
    with BROWSER.serving([s.cfg, s.ckpt, '--clip-checkpoint', s.clip],
                         tmp_path) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=['--no-sandbox'])
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.goto(url)
        page.locator('#vtg-video input[type=file]').set_input_files(
            str(s.video))
        page.locator('#vtg-video video').wait_for(timeout=60_000)
        page.locator('#vtg-queries textarea').fill('\n'.join(QUERIES))
        page.locator('#vtg-run').click()
        page.locator('#vtg-plots img').first.wait_for(timeout=120_000)
        page.wait_for_function(
            'document.querySelectorAll(\'#vtg-moments td[data-row="'
            f'{len(want) - 1}"]\').length > 0',
            timeout=60_000)
        got = page.evaluate(TABLE_JS)
        assert [[r[0], int(r[1]),
                 float(r[2]),
                 float(r[3]),
                 float(r[4])] for r in got] == want
        # one plot per query, real PNGs served by the page
        assert page.locator('#vtg-plots img').count() >= len(QUERIES)
        text = page.locator('#vtg-submission-text textarea').input_value()
        records = [json.loads(line) for line in text.splitlines()]
        assert [r['query'] for r in records] == QUERIES
        assert records[0]['pred_relevant_windows'] == [
            [float(v) for v in w] for w in expected[0]['pred_relevant_windows']
        ]
        # a click on a moment seeks the player to its start
        row = 1
        _cell(page, row, 2).click()
        page.wait_for_function(
            'Math.abs(document.querySelector("#vtg-video video").currentTime'
            f' - {want[row][2]}) < 0.2',
            timeout=30_000)
        shot = tmp_path / 'vtg_demo.png'
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
