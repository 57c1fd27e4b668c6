"""Unit tests of normalisation, tokenisation, synonyms and retrieval on a small fixture knowledge base.
The real knowledge base is checked by test_kb_schema.py and test_kb_eval.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.kb import Entry, KnowledgeBase, KnowledgeBaseError, Source, validate_entry
from knowledge.search import MAX_QUERY_CHARS, Answer, Retriever, RetrieverConfig
from knowledge.text import detect_traditional, normalize, to_simplified, to_traditional
from knowledge.tokenize import Vocabulary, default_analyzer, sound_bigrams, stem, syllable, tokenize


def _entry(
    entry_id: str, title: str, questions: list[str], keywords: list[str], **extra: object
) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": entry_id,
        "title": title,
        "questions": questions,
        "keywords": keywords,
        "answer": f"{title}的答案。",
        "audience": ["parent"],
        "region": "national",
        "source": {"document": "测试文件", "number": "测〔2024〕1号"},
        "effective": "2024-01-01",
        "as_of": "2026-11-01",
        "confidence": "FOUND",
    }
    raw.update(extra)
    return raw


FIXTURE = [
    _entry(
        "leave-maternity",
        "国家规定的产假天数",
        ["女职工产假有多少天？", "生孩子能休几天产假", "产假 天数", "How long is maternity leave?"],
        ["产假", "98天", "maternity leave"],
        related=["leave-paternity"],
    ),
    _entry(
        "leave-paternity",
        "陪产假（护理假）",
        ["男方陪产假有几天", "老公能休护理假吗", "陪产假 天数", "paternity leave days"],
        ["陪产假", "护理假", "丈夫"],
    ),
    _entry(
        "nursery-cctv",
        "托育机构的视频监控",
        ["托育机构要装监控吗", "托儿所的摄像头录像保存多久", "监控 保存 90天"],
        ["视频监控", "录像", "CCTV"],
    ),
    _entry(
        "nursery-filing",
        "托育机构备案",
        ["托育机构怎么备案", "开托儿所要去哪里备案", "备案 材料", "How do I register a nursery?"],
        ["备案", "卫健委", "filing"],
        audience=["operator"],
    ),
    _entry(
        "vaccine-hepb",
        "乙肝疫苗什么时候打",
        ["宝宝乙肝疫苗几个月打", "乙肝疫苗接种时间", "乙肝 疫苗 第三针"],
        ["乙肝", "疫苗", "接种"],
    ),
    _entry(
        "subsidy-childcare",
        "国家育儿补贴",
        ["育儿补贴每年多少钱", "三岁以下孩子的育儿补贴怎么领", "育儿补贴 申请"],
        ["育儿补贴", "3600元", "subsidy"],
        effective="2025-01",
    ),
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    folder = tmp_path_factory.mktemp("kb")
    (folder / "a.yaml").write_text(yaml.safe_dump(FIXTURE[:3], allow_unicode=True), encoding="utf-8")
    (folder / "b.yaml").write_text(yaml.safe_dump(FIXTURE[3:], allow_unicode=True), encoding="utf-8")
    return KnowledgeBase.load(folder)


@pytest.fixture(scope="module")
def retriever(kb: KnowledgeBase) -> Retriever:
    return Retriever(kb)


# --- normalisation ---------------------------------------------------------------------------------


def test_normalize_folds_width_case_punctuation_and_script() -> None:
    assert normalize("ＣＣＴＶ　保存多久？！") == "cctv 保存多久"
    assert normalize("產假幾天") == "产假几天"
    assert normalize("  Hello,\tWORLD!! ") == "hello world"
    assert normalize("宝宝发烧😀了") == "宝宝发烧 了"
    assert normalize("") == ""


def test_traditional_round_trip_and_detection() -> None:
    assert to_simplified("託育機構怎麼備案") == "托育机构怎么备案"
    assert to_traditional("育儿补贴怎么领") == "育兒補貼怎麼領"
    # Taiwan glyphs, mainland vocabulary: 视频 stays 視頻 (s2twp would say 影片).
    assert to_traditional("视频监控里的录像") == "視頻監控裡的錄像"
    assert detect_traditional("乳兒班最多幾個孩子")
    assert not detect_traditional("乳儿班最多几个孩子")
    assert not detect_traditional("周末可以送托吗")
    assert not detect_traditional("How long is maternity leave?")
    assert not detect_traditional("")


# --- tokenisation ------------------------------------------------------------------------------------


def test_domain_words_stay_whole() -> None:
    words = tokenize("普惠托位怎么申请")
    assert "普惠托位" in words
    assert "托位" in words  # the search-mode sub-word
    assert "晨午检" in tokenize("晨午检是什么")
    assert "家庭托育点" in tokenize("家庭托育点最多收几个孩子")


def test_stop_words_and_question_words_are_dropped() -> None:
    words = tokenize("请问我的宝宝的产假是多少天呢")
    for stop in ("请问", "我", "的", "是", "呢", "多少"):
        assert stop not in words
    assert words == ["婴幼儿", "产假", "天"]
    # Verbs that carry the topic stay.
    assert "打" in tokenize("老师打孩子找谁")


def test_synonyms_fold_to_one_canonical_term() -> None:
    assert tokenize("托儿所")[0] == tokenize("托育中心")[0] == tokenize("daycare")[0] == "托育机构"
    assert tokenize("护理假")[0] == tokenize("paternity leave")[0] == "陪产假"
    assert tokenize("摄像头")[0] == tokenize("CCTV")[0] == "监控"
    assert tokenize("宝宝")[0] == tokenize("小孩")[0] == tokenize("babies")[0] == "婴幼儿"


def test_english_words_lowercase_stemmed_without_stop_words() -> None:
    assert tokenize("The Vaccinations for babies") == ["接种", "婴幼儿"]
    assert stem("nurseries") == "nursery"
    assert stem("class") == "class"
    assert tokenize("How long is it?") == ["long"]


def test_sound_bigrams_ignore_which_homophone_was_typed() -> None:
    assert syllable("假") == "jia"
    assert syllable("x") == "x"
    assert list(sound_bigrams("产假 几天 a 娃")) == ["chan_jia", "ji_tian", "wa"]
    assert list(sound_bigrams("产加")) == list(sound_bigrams("产假"))


def test_speller_corrects_typos_of_domain_terms_only() -> None:
    speller = default_analyzer().speller
    assert speller.correct("厦门普会托位有多少个") == "厦门普惠托位有多少个"
    assert speller.correct("托育机构监空录像") == "托育机构监控录像"
    assert speller.correct("产加有多少天") == "产假有多少天"
    # Real words are left alone, even next to each other.
    for text in ("补贴每月打到卡上", "示范城市是谁评的", "今天天气怎么样", ""):
        assert speller.correct(text) == text


def test_synonym_groups_must_not_overlap() -> None:
    with pytest.raises(ValueError, match="two groups"):
        Vocabulary.from_groups({"甲": ["乙丙"], "丁": ["乙丙"]})


def test_places_and_their_suffixes() -> None:
    vocabulary = Vocabulary.from_groups({}, places={"福建": "", "厦门": "福建", "湖里": "厦门"})
    assert vocabulary.enclosing("湖里") == ["湖里", "厦门", "福建"]
    assert vocabulary.words["厦门市"] == "厦门"
    assert vocabulary.words["湖里区"] == "湖里"
    assert tokenize("福建省厦门市湖里区") == ["福建", "厦门", "湖里"]
    assert tokenize("Xiamen") == ["厦门"]


def test_whole_words_are_not_split() -> None:
    assert tokenize("陪产假") == ["陪产假"]
    assert "产假" not in tokenize("护理假")
    assert tokenize("托育机构") == ["托育机构", "托育", "机构"]


def test_digits_are_tokens() -> None:
    assert "98" in tokenize("产假98天")
    assert "2000" in tokenize("个税每月扣除２０００元")


# --- the knowledge base ----------------------------------------------------------------------------


def test_load_reads_every_file_and_keeps_order(kb: KnowledgeBase) -> None:
    assert [e.id for e in kb.entries] == [e["id"] for e in FIXTURE]
    entry = kb.get("subsidy-childcare")
    assert entry is not None
    assert entry.effective == "2025-01"
    assert entry.source == Source("测试文件", "测〔2024〕1号")
    assert kb.get("missing") is None
    assert "leave-paternity" in kb
    assert len(kb) == len(FIXTURE)


def test_unquoted_yaml_dates_become_strings(tmp_path: Path) -> None:
    text = yaml.safe_dump([FIXTURE[1]], allow_unicode=True).replace("'2024-01-01'", "2024-01-01")
    assert "effective: 2024-01-01" in text
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    entry = KnowledgeBase.load(tmp_path).entries[0]
    assert entry.effective == "2024-01-01"


def test_validation_names_file_and_id(tmp_path: Path) -> None:
    bad = dict(FIXTURE[1], questions=["只有一个问题"], confidence="GUESS", effective="2024-13-01")
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump([FIXTURE[0], bad], allow_unicode=True), encoding="utf-8"
    )
    with pytest.raises(KnowledgeBaseError) as caught:
        KnowledgeBase.load(tmp_path)
    problems = caught.value.problems
    assert all(p.startswith("bad.yaml#2: entry 'leave-paternity'") for p in problems)
    assert any("at least 3" in p for p in problems)
    assert any("confidence" in p for p in problems)
    assert any("effective" in p for p in problems)


def test_validation_rejects_missing_and_unknown_keys_and_bad_values() -> None:
    raw = dict(FIXTURE[0])
    del raw["answer"]
    raw["keyword"] = ["typo"]
    raw["keywords"] = ["1:3", 63]
    raw["id"] = "Bad_Id"
    with pytest.raises(KnowledgeBaseError) as caught:
        validate_entry(raw, where="f.yaml")
    text = str(caught.value)
    assert "missing keys: answer" in text
    assert "unknown keys: keyword" in text
    assert "quote them" in text
    assert "lowercase ascii" in text


def test_duplicate_ids_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump([FIXTURE[2]], allow_unicode=True), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump([FIXTURE[2]], allow_unicode=True), encoding="utf-8")
    with pytest.raises(
        KnowledgeBaseError, match=r"b\.yaml#1: entry 'nursery-cctv': duplicate id \(first in a\.yaml\)"
    ):
        KnowledgeBase.load(tmp_path)


def test_dangling_related_ids_are_errors(tmp_path: Path) -> None:
    dangling = dict(FIXTURE[1], related=["nowhere"])
    (tmp_path / "a.yaml").write_text(yaml.safe_dump([FIXTURE[2]], allow_unicode=True), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump([dangling], allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as caught:
        KnowledgeBase.load(tmp_path)
    assert caught.value.problems == [
        "b.yaml: entry 'leave-paternity': related ids not in the knowledge base: ['nowhere']"
    ]


def test_entry_is_frozen(kb: KnowledgeBase) -> None:
    entry = kb.entries[0]
    assert isinstance(entry, Entry)
    with pytest.raises(AttributeError):
        entry.title = "changed"  # type: ignore[misc]


# --- retrieval ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("产假能休多少天", "leave-maternity"),
        ("生娃可以休几天产假？", "leave-maternity"),
        ("老公的陪产假几天", "leave-paternity"),
        ("护理假", "leave-paternity"),
        ("托儿所的录像要保存多久", "nursery-cctv"),
        ("托育中心需要安装摄像头吗", "nursery-cctv"),
        ("开托育机构去哪备案", "nursery-filing"),
        ("宝宝乙肝疫苗第几个月打", "vaccine-hepb"),
        ("小孩打乙肝针的时间", "vaccine-hepb"),
        ("育儿补贴一年给多少钱", "subsidy-childcare"),
        ("How many days of maternity leave?", "leave-maternity"),
        ("产加能休多少天", "leave-maternity"),
        ("托育机构监空录像保存多久", "nursery-cctv"),
        ("paternity leave", "leave-paternity"),
        ("how to register a daycare", "nursery-filing"),
    ],
)
def test_ranking(retriever: Retriever, question: str, expected: str) -> None:
    answer = retriever.ask(question)
    assert answer.entry is not None, (question, answer)
    assert answer.entry.id == expected
    assert not answer.abstained
    assert 0.0 < answer.score <= 1.0


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("產假能休多少天", "leave-maternity"),
        ("託兒所的錄像要保存多久", "nursery-cctv"),
        ("寶寶乙肝疫苗第幾個月打", "vaccine-hepb"),
        ("育兒補貼怎麼領", "subsidy-childcare"),
    ],
)
def test_traditional_questions(retriever: Retriever, question: str, expected: str) -> None:
    answer = retriever.ask(question)
    assert answer.entry is not None
    assert answer.entry.id == expected


@pytest.mark.parametrize(
    "question",
    ["", "   ", "\n\t", "😀😀😀", "？？？！！", "的了吗", "asdfghjkl qwerty", "今天天气怎么样", "股票怎么买"],
)
def test_abstains_on_empty_and_garbage(retriever: Retriever, question: str) -> None:
    answer = retriever.ask(question)
    assert answer.abstained
    assert answer.entry is None
    assert 0.0 <= answer.score < retriever.threshold


def test_very_long_input_does_not_crash(retriever: Retriever) -> None:
    answer = retriever.ask("产假" + "啊" * 10_000)
    assert isinstance(answer, Answer)
    answer = retriever.ask("x" * 10_000)
    assert answer.abstained
    assert MAX_QUERY_CHARS < 10_000


def test_alternatives_exclude_the_answer_and_are_sorted(retriever: Retriever) -> None:
    answer = retriever.ask("托育机构监控和备案")
    assert answer.entry is not None
    ids = [e.id for e, _ in answer.alternatives]
    assert answer.entry.id not in ids
    assert len(ids) == len(set(ids))
    assert all(0.0 <= s <= 1.0 for _, s in answer.alternatives)


def test_related_lists_declared_then_neighbours(retriever: Retriever, kb: KnowledgeBase) -> None:
    entry = kb.get("leave-maternity")
    assert entry is not None
    related = retriever.related(entry, limit=3)
    assert related[0].id == "leave-paternity"
    assert entry not in related
    assert len(related) == len({e.id for e in related}) <= 3


def test_one_document_per_question_also_ranks(kb: KnowledgeBase) -> None:
    retriever = Retriever(kb, config=RetrieverConfig(per_question=True))
    answer = retriever.ask("托儿所的录像要保存多久")
    assert answer.entry is not None
    assert answer.entry.id == "nursery-cctv"


def test_place_named_in_question_prefers_its_entries(tmp_path: Path) -> None:
    local = _entry(
        "xm-leave",
        "厦门的产假",
        ["厦门产假有多少天", "在厦门生孩子休几天产假", "厦门 产假"],
        ["产假"],
        region="厦门",
    )
    national = dict(FIXTURE[0], related=[])
    (tmp_path / "kb.yaml").write_text(yaml.safe_dump([national, local], allow_unicode=True), encoding="utf-8")
    retriever = Retriever(KnowledgeBase.load(tmp_path))
    for question, expected in (("厦门市的产假几天", "xm-leave"), ("产假几天", "leave-maternity")):
        answer = retriever.ask(question)
        assert answer.entry is not None
        assert answer.entry.id == expected, question


def test_concurrent_asks_agree(retriever: Retriever) -> None:
    questions = ["产假能休多少天", "托儿所的录像要保存多久", "育儿补贴一年给多少钱", "今天天气怎么样"] * 25
    expected = [retriever.ask(q).entry for q in questions]
    results: list[Entry | None] = [None] * len(questions)

    def work(offset: int) -> None:
        for i in range(offset, len(questions), 4):
            results[i] = retriever.ask(questions[i]).entry

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_well_formed_answer(retriever: Retriever, text: str) -> None:
    answer = retriever.ask(text)
    assert 0.0 <= answer.score <= 1.0
    assert answer.abstained == (answer.entry is None)
    assert all(word and not any(c.isspace() for c in word) for word in default_analyzer().analyze(text).words)
