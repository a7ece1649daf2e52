"""lenet.figure_text: figures draw their words in the language LENET_LANG sets."""

from __future__ import annotations

import json
import re
import shutil
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from lenet import figure_text  # noqa: E402

TABLE = {"step": "步", "mini-batch loss": "小批量损失", "test accuracy": "测试准确率",
         "conv1": "conv1", "kernel 3": "卷积核 3"}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr(figure_text, "translations", lambda language: TABLE)
    return TABLE


def test_language_comes_from_one_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LENET_LANG", raising=False)
    assert figure_text.figure_language() == "en"
    monkeypatch.setenv("LENET_LANG", "zh_CN")
    assert figure_text.figure_language() == "zh_CN"
    monkeypatch.setenv("LENET_LANG", "fr")
    with pytest.raises(ValueError, match="LENET_LANG: expected one of en, zh_CN, got 'fr'"):
        figure_text.figure_language()


def test_translate_words_not_numbers_or_formulas(table, tmp_path, monkeypatch) -> None:
    log = tmp_path / "missing.jsonl"
    monkeypatch.setenv("LENET_FIGURE_TEXT_LOG", str(log))
    assert figure_text.translate("step", "zh_CN") == "步"
    assert figure_text.translate("step\ntest accuracy", "zh_CN") == "步\n测试准确率"
    for kept in ("0.95", "3→5", "x", r"$\mathdefault{10^{-1}}$", "28x28"):
        assert figure_text.translate(kept, "zh_CN") == kept
    assert figure_text.translate("step", "en") == "step"
    assert not log.exists()
    assert figure_text.translate("no such label", "zh_CN") == "no such label"
    assert [json.loads(line) for line in log.read_text().splitlines()] == ["no such label"]


def test_every_text_of_a_figure_is_translated(table) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="mini-batch loss")
    ax.set_xlabel("step")
    ax.set_title("kernel 3")
    ax.set_xticks([0, 1], ["conv1", "step"])
    ax.annotate("test accuracy", (0.5, 0.5))
    ax.legend()
    figure_text.translate_figure(fig, "zh_CN")
    fig.canvas.draw()   # tick labels are made from their formatter at draw time
    texts = {t.get_text() for t in fig.findobj(Text) if t.get_text()}
    assert {"步", "小批量损失", "卷积核 3", "测试准确率", "conv1"} <= texts
    assert not texts & {"step", "mini-batch loss", "kernel 3", "test accuracy"}
    plt.close(fig)


def test_the_shipped_table_is_chinese() -> None:
    table = figure_text.translations("zh_CN")
    assert len(table) > 100
    assert all(isinstance(v, str) and v.strip() for v in table.values())
    chinese = [k for k, v in table.items() if re.search(r"[\u4e00-\u9fff]", v)]
    assert len(chinese) > 0.6 * len(table)   # the rest are names kept as they are
    assert table["test accuracy"] != "test accuracy"
    assert figure_text.translations("en") == {}
    with pytest.raises(ValueError, match="language: expected one of en, zh_CN"):
        figure_text.translations("de")


@pytest.mark.skipif(not shutil.which("fc-list"), reason="no fontconfig on this machine")
def test_install_draws_chinese_without_missing_glyphs(table, monkeypatch) -> None:
    from matplotlib import font_manager

    figure_text._register_cjk_fonts()
    if not any(f.name in figure_text.CJK_FONTS for f in font_manager.fontManager.ttflist):
        pytest.skip("fonts-noto-cjk is not installed (scripts/i18n.py installs it)")
    monkeypatch.setattr(FigureCanvasBase, "print_figure", FigureCanvasBase.print_figure)
    with matplotlib.rc_context():
        figure_text.install("zh_CN")
        fig, ax = plt.subplots()
        ax.set_xlabel("step")
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # "Glyph ... missing from font(s)" is a warning
            fig.savefig(__import__("io").BytesIO(), format="png")
        assert ax.get_xlabel() == "步"
        plt.close(fig)
