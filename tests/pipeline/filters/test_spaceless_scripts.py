"""Japanese, Chinese and Thai prose passes every word rule; when such a page is dropped, the reason names the rule.

The paragraphs below are ordinary prose written for these tests (one paragraph per line, as an extractor gives them).
A C4 `max_word_length` of 1,000 once read an unspaced 4,200-character Japanese paragraph as one word and dropped the
page as `c4:too_few_sentences`.
"""

import pytest

from pipeline.filters import FilterChain, FiltersConfig
from pipeline.filters.c4 import C4Filter
from pipeline.filters.fineweb import FineWebConfig, FineWebFilter
from pipeline.filters.gopher_quality import GopherQualityFilter
from pipeline.filters.gopher_repetition import GopherRepetitionFilter
from pipeline.filters.text_view import TextView, longest_word
from pipeline.stats import Stats
from tests.pipeline.filters.helpers import get_doc
from tests.pipeline.filters.test_langid import require_lid

JAPANESE = """\
私が生まれ育った町は、海と山に挟まれた小さな港町です。朝になると漁船が次々に港へ戻ってきて、市場は威勢のいい声でにぎわいます。子どもの頃は、学校へ行く前に祖父と一緒に魚の競りを見に行くのが楽しみでした。
町の中心には古い商店街があり、昔ながらの豆腐屋や本屋が今も営業を続けています。最近は大きなスーパーが郊外にできたため、買い物客の数は少しずつ減ってきました。それでも、店主たちは季節ごとに祭りや朝市を開き、人の流れを取り戻そうと工夫しています。
春には川沿いの桜並木が満開になり、遠くの町からも多くの見物客が訪れます。夜になると提灯に明かりがともり、屋台では焼きそばや団子が売られます。地元の高校生たちは吹奏楽の演奏を披露し、家族連れが芝生の上で弁当を広げます。
夏の終わりには、山の上の神社で大きな花火大会が開かれます。この祭りは江戸時代から続いていると言われ、町の人々にとって一年で最も大切な行事の一つです。準備は春から始まり、若者たちは夜遅くまで神輿の担ぎ方を練習します。
冬になると北からの冷たい風が強く吹き、港の仕事はとても厳しくなります。それでも漁師たちは夜明け前に船を出し、寒さの中で網を引き上げます。彼らが持ち帰るぶりや蟹は、この地方の冬の味覚として全国に知られています。
最近、町では空き家を改装して若い人を呼び込む取り組みが始まりました。古い倉庫はカフェや工房に生まれ変わり、週末には観光客が写真を撮りに集まります。移住してきた人たちと昔からの住民が一緒に祭りの準備をする姿も、珍しくなくなりました。
一方で、人口の減少と高齢化は今も大きな課題です。小学校は十年前に二つが統合され、通学のためにバスを使う子どもが増えました。町役場は医療や交通の仕組みを見直し、誰もが安心して暮らせる町を目指して話し合いを重ねています。
町を離れて都会で暮らすようになってから、故郷の良さを改めて感じるようになりました。便利な生活に慣れた今でも、潮の香りや市場のざわめきを思い出すと、心が落ち着きます。いつか子どもたちを連れて帰り、あの港の朝を見せてあげたいと思っています。
先日、久しぶりに帰省したとき、幼なじみが港の近くで小さな食堂を開いていました。朝に揚がったばかりの魚を使った定食が評判で、昼時には地元の人と観光客で満席になります。彼は「この町の味を残したい」と話し、毎朝市場へ通っているそうです。
帰りの電車の窓から、夕日に染まる海と小さくなっていく町並みを眺めました。住む場所は変わっても、あの町で過ごした日々は今の自分を支えてくれています。次に帰るときは、もっとゆっくり時間をかけて町を歩いてみようと思います。"""

CHINESE = """\
我家附近有一个不大的公园，每天清晨都有很多老人在那里打太极拳。湖边的柳树下常常坐着几位下棋的老先生，旁边总围着一圈看热闹的人。到了傍晚，年轻的父母推着婴儿车散步，孩子们在草地上追逐嬉戏。
这座城市的地铁在过去十年里发展得非常快。以前从城东到城西要坐一个多小时的公交车，现在只需要二十多分钟。不过，上下班高峰时车厢里依然十分拥挤，很多人宁愿早一点出门，以避开最拥挤的时段。
周末的时候，我喜欢去老城区的菜市场买菜。那里的摊主大多认识我，会主动告诉我哪些蔬菜最新鲜，哪种鱼今天的价格最合适。比起超市，菜市场更有人情味，讨价还价也成了一种乐趣。
去年秋天，我们一家人去西南山区旅行了一个星期。那里的村庄建在山坡上，梯田一层一层地延伸到云雾里。当地的村民热情地邀请我们品尝自家酿的米酒，还教孩子们用竹子编小篮子。
回到城市以后，孩子们常常提起那次旅行。他们说最难忘的是夜晚满天的星星，因为在城市里几乎看不到。我想，旅行的意义也许就在于让我们换一种眼光，重新认识自己习以为常的生活。"""

# Thai separates sentences with a space and ends a paragraph without a punctuation mark.
THAI = "\n".join(" ".join(paragraph) for paragraph in [
    ["บ้านของฉันอยู่ในหมู่บ้านเล็ก ๆ",
     "ริมแม่น้ำทางภาคเหนือของประเทศไทย",
     "ทุกเช้าชาวบ้านจะตื่นแต่เช้าเพื่อใส่บาตรพระสงฆ์ที่เดินผ่านหน้าบ้าน",
     "หลังจากนั้นผู้ใหญ่ก็ออกไปทำนา ส่วนเด็ก ๆ",
     "ก็เดินไปโรงเรียนด้วยกัน"],
    ["ในฤดูฝนแม่น้ำจะมีน้ำมากและไหลเชี่ยว",
     "ชาวประมงจึงต้องระมัดระวังเป็นพิเศษเมื่อออกไปหาปลา",
     "แต่เมื่อถึงฤดูหนาว",
     "อากาศจะเย็นสบายและมีหมอกปกคลุมภูเขาในตอนเช้า",
     "นักท่องเที่ยวจำนวนมากจึงเดินทางมาเที่ยวในช่วงนี้"],
    ["ตลาดเช้าในตัวอำเภอเป็นสถานที่ที่คึกคักที่สุด",
     "แม่ค้านำผักสด ผลไม้",
     "และอาหารพื้นเมืองมาวางขายตั้งแต่ก่อนรุ่งสาง",
     "ฉันชอบไปซื้อข้าวเหนียวกับไส้อั่วที่ร้านของป้าคนหนึ่ง",
     "ซึ่งขายมานานกว่าสามสิบปีแล้ว"],
    ["ทุกปีในเดือนพฤศจิกายน",
     "หมู่บ้านของเราจะจัดงานลอยกระทงริมแม่น้ำ",
     "ผู้คนช่วยกันทำกระทงจากใบตองและดอกไม้",
     "แล้วนำไปลอยพร้อมกับอธิษฐานขอพร",
     "ท้องฟ้าในคืนนั้นเต็มไปด้วยโคมลอยที่ส่องแสงสวยงาม"],
    ["แม้ว่าตอนนี้ฉันจะย้ายมาทำงานที่กรุงเทพฯ แล้ว",
     "แต่ฉันก็ยังกลับบ้านทุกครั้งที่มีวันหยุดยาว",
     "การได้นั่งกินข้าวกับครอบครัวและฟังเสียงน้ำไหลทำให้ฉันรู้สึกผ่อนคลาย",
     "และมีแรงกลับไปทำงานต่อ"],
])

PROSE = {"ja": JAPANESE, "zh": CHINESE, "th": THAI}
ONE_LINE_JAPANESE = JAPANESE.replace("\n", "")  # the regression: one unspaced paragraph over 1,000 characters
WORD_FILTERS = (GopherQualityFilter, GopherRepetitionFilter, C4Filter, FineWebFilter)


@pytest.mark.parametrize("lang", sorted(PROSE))
@pytest.mark.parametrize("labelled", [True, False], ids=["labelled", "by_script"])
@pytest.mark.parametrize("word_filter", WORD_FILTERS, ids=lambda f: f.__name__)
def test_prose_passes_every_word_rule(lang, labelled, word_filter):
    doc = get_doc(PROSE[lang], lang=lang if labelled else "")
    assert word_filter()(doc) is None
    assert doc.text == PROSE[lang]  # C4 removed no line


@pytest.mark.parametrize("labelled", [True, False], ids=["labelled", "by_script"])
def test_a_long_unspaced_paragraph_is_not_one_long_word(labelled):
    assert len(ONE_LINE_JAPANESE) > 1000 and " " not in ONE_LINE_JAPANESE
    c4 = C4Filter()
    doc = get_doc(ONE_LINE_JAPANESE, lang="ja" if labelled else "")
    assert c4(doc) is None and doc.text == ONE_LINE_JAPANESE and not c4.counters
    for word_filter in WORD_FILTERS:
        assert word_filter()(get_doc(ONE_LINE_JAPANESE, lang="ja" if labelled else "")) is None


def test_a_real_long_word_inside_unspaced_text_still_fires():
    blob = "QUJD" * 300  # a 1,200-character base64 run pasted into a Japanese paragraph
    line = f"添付ファイルの中身は次のとおりです。{blob}。以上です。"
    c4 = C4Filter()
    doc = get_doc(JAPANESE + "\n" + line, lang="ja")
    assert c4(doc) is None and doc.text == JAPANESE
    assert dict(c4.counters) == {"c4_line:long_word": 1}
    assert longest_word(line, unspaced=True) == 1200 and longest_word(JAPANESE, unspaced=True) < 10


JA_MENU = ["ホーム", "会社概要", "事業内容", "採用情報", "お知らせ", "よくある質問", "アクセス", "お問い合わせ",
           "サイトマップ", "個人情報保護方針"]
TH_MENU = ["หน้าแรก", "ข่าวสาร", "บทความ", "ติดต่อเรา", "เกี่ยวกับเรา", "สินค้า", "บริการ", "ร่วมงานกับเรา",
           "คำถามที่พบบ่อย", "แผนผังเว็บไซต์", "นโยบายความเป็นส่วนตัว", "เข้าสู่ระบบ"]


@pytest.mark.parametrize(
    "text, lang, reason",
    [
        ("今日はいい天気です。", "ja", "gopher_quality:too_few_words"),  # ten characters, not ten words
        ("\n".join(["同じ文章がこのページで何度も繰り返し表示されています。"] * 6), "ja",
         "gopher_repetition:dup_line_frac"),
        # one paragraph of three sentences; the menu entries end in no punctuation, so C4 removes them
        ("\n".join([JAPANESE.split("\n")[0], *JA_MENU]), "ja", "c4:too_few_sentences"),
        (CHINESE + "\n使用 {name} 作为模板中的占位符，运行时会被替换成真实的名字。", "zh", "c4:curly_bracket"),
        (CHINESE + "\n" + CHINESE.split("\n")[2], "zh", "fineweb:dup_line_char_ratio"),  # one paragraph twice
        # Thai menu entries need no punctuation to stay, but they are short lines
        ("\n".join([THAI.split("\n")[0], *TH_MENU]), "th", "fineweb:short_line_ratio"),
    ],
)
def test_a_dropped_page_names_the_rule_that_fired(text, lang, reason):
    stats = Stats()
    config = FiltersConfig()
    config.lang.enabled = False
    kept = list(FilterChain(config).run([get_doc(text, lang=lang)], stats))
    assert kept == [] and stats.counters[reason] == 1
    assert stats.dropped == {reason.split(":")[0]: 1}


@require_lid
def test_the_whole_chain_keeps_the_prose_and_labels_its_language():
    stats = Stats()
    docs = [get_doc(text) for text in (*PROSE.values(), ONE_LINE_JAPANESE)]
    kept = list(FilterChain(FiltersConfig()).run(docs, stats))
    assert [d.lang for d in kept] == ["ja", "zh", "th", "ja"] and not stats.dropped
    assert [d.text for d in kept] == [*PROSE.values(), ONE_LINE_JAPANESE]


# Short sentences, each a line (a Q&A page, a recipe's steps): 12-20 characters, far under FineWeb's 30.
CHINESE_SHORT_LINES = "\n".join([
    "先把米洗干净，泡半个小时。", "锅里放满清水，用大火烧开。", "水开以后放入泡好的米。", "改成小火，慢慢熬四十分钟。",
    "中间要不时搅拌，免得粘锅。", "最后加一点盐和切好的青菜。", "再煮五分钟就可以关火了。", "趁热盛到碗里，撒上葱花。",
])
ZH_MENU = ["首页", "新闻中心", "产品介绍", "联系我们", "关于我们", "人才招聘", "常见问题", "网站地图"]


@pytest.mark.parametrize("labelled", [True, False], ids=["labelled", "by_script"])
def test_short_chinese_sentences_are_not_short_lines_but_a_menu_is(labelled):
    lang = "zh" if labelled else ""
    assert all(11 <= len(line) < 30 for line in CHINESE_SHORT_LINES.split("\n"))
    assert FineWebFilter()(get_doc(CHINESE_SHORT_LINES, lang=lang)) is None
    menu = "\n".join([CHINESE.split("\n")[0], *ZH_MENU])  # unpunctuated too: that rule is off here
    assert FineWebFilter(FineWebConfig(min_line_punct_ratio=0))(get_doc(menu, lang=lang)) == "fineweb:short_line_ratio"
    # the Latin bound, set for every script, drops the sentences again
    latin = FineWebFilter(FineWebConfig(short_line_length_dense=30))
    assert latin(get_doc(CHINESE_SHORT_LINES, lang=lang)) == "fineweb:short_line_ratio"


def test_thai_is_unspaced_but_not_dense():
    assert TextView(THAI).unspaced and not TextView(THAI).dense
    assert TextView(JAPANESE).dense and TextView(CHINESE, lang="zh").dense and not TextView(CHINESE, lang="th").dense


def test_script_detection_without_a_label():
    assert TextView(JAPANESE).unspaced and not TextView(JAPANESE).unpunctuated
    assert TextView(THAI).unspaced and TextView(THAI).unpunctuated
    assert not TextView("The river runs through the old town.").unspaced
    assert TextView("anything", lang="th").unpunctuated and not TextView(THAI, lang="en").unpunctuated
