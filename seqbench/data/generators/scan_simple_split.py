"""Which SCAN commands are in the official ``simple`` test set (Lake & Baroni, 2018).

The authors drew the simple 80/20 split at random once (github.com/brendenlake/SCAN,
``simple_split/tasks_test_simple.txt``: 4,182 of the 20,910 commands), so it cannot be re-derived
from a rule; results are comparable with the paper only on those exact commands. Stored here as
one bit per command of :func:`seqbench.data.generators.scan.commands` (bit ``i`` set: command
``i`` is in the test set), little-endian within each byte, zlib-compressed, base64: 2.7 kB
instead of the 1.3 MB of the files. Made from the files in ``../shared/data/scan`` (the
published ones, gzip-compressed); every command's actions there equal the grammar's.
"""

from __future__ import annotations

import base64
import functools
import zlib

TEST_COUNT = 4_182

_TEST_BITS = (
    "eNoVVt9vHEcd/8zs3Hp2vbbmzmtrHVyY21ySc+tGa8upgqjQ3GVjXVwn2hgDASG0cU1IEQ8p9KEPPMydN+4ldenZNchE"
    "VXV2XGQKSFbFH3BJUxTgJUIIFfGSAkIREv8AT3z9ctqbnd39fj/fz48JYEo9w9HY4W2GLpbUn15FOcOj3nN/9qeSMajz"
    "4NBQQyuduv/J1wXG+na7WuISmGS1oO9cOp0qI3UI0MYVlr7UQwnhPiBHvHoF16fZbsErFmhbRL5NqijxOl4EaIn7qNuT"
    "h6gB2gZD6HWUodV0vuWCe31Y0dno6cclg8OmLkOn6xxWFYfJFiC+AdR1tPxyWmcCAsadPfNOibus7hqVYtBEM8PkJSN/"
    "8HH4xFk/cRFav8mmpBRSdPam+ePOK9pq1uUGzrVT7xZl2020jQpsKcgmq63DzYyaHzwNceUnMN+JHkBB7IWlvFtnpU6s"
    "MVWRXGHXgrGrro1ywWhHqAQeSdQW5Z0ALnTvF4VtAqOEF5pr/9JhbGbbBFjVMf5w3jkFrvp5pAWw1qgM5n0UXM2U8G9C"
    "JMuQ81hhv8U3Gsz23fysCqWpz/7UysGuT10brWfnuN4401Zo8Dl4dQXd1sMSfTTCY4Q39mEW2xWMLqwCU/2mlDza+Dxa"
    "a39suz2LKxBr4JOBhMqj9TmmhNGKoRMwIbQHc6rWnmwOcsIczjZvo+r+ZdAynqoqtS8ze1PSFmkNk0JtN1NqUX2GFu4M"
    "hBy58kR1eSSMeJV92EwS/loNXHOvgbL1NfyKo3dGO+E1yRTYGqy37rjffm4WPic4HcnHFL0tKegHVmZbvlTHJJoAHAFl"
    "HyjLqE4Jt8PtM9P9ZUubHEmIlyBWJDN9o/5QErY0LVZl7cIw/G/mO7IaIccj7ty/iEst49r2hM8SF4KLJ38t6Ydmy8K0"
    "4cTUd1M1Ht+03CjcWxnUflW5/EY43hTWOg+irNrzGsVAgG8qAlrbA535ERo6763YPcGp4KjUZW76BaP8T4DgBSoSrLB1"
    "lR316RP06P/wTwEqWfTQqebajoMP4Qb8Z406mmYHtl/rz9eYHsfByc162uGVpvZYnpQSvXDBXODIJS7Eyu7J2vYj6PJh"
    "oSaaRafrBoNhHFo23VP/tT4wZ072VRivR6S+tWA3CohVC4029yopbxUd5SyL33Gho7I6zQPIdb6o5JLZvvQ8NY5NuJzR"
    "yCLEnM//5w0ssEfdfYfkorI4O1asZwyYV6/eYgu86GlrsUjkLnPZhW+4B/gqT7afbF7rMixION8bwa75TakQIjIMpHTG"
    "iM7wMZI/M59eLSXAjA/lNleElr1jhxhC/RRET6GMx0B1MoVsHPAE9qayTUlfGptbw2mq/qKwXQixcmLRZ1ZtDcT72nZP"
    "0iykgxPKHo0ik/by6rCU/g2WMklTny81k+V0BKyxCmnlg5BvMRBCs+rlVOsM593aw7koDNndyc2xZex1GAYRU6MY9GpQ"
    "6u3usCaBK6RRz7cN+K1BgZ58oZWgLgbwRPceTKIRwxq7Dq/9VErqaFcFXmdl9ItwZwcjfOWGGrcmxiqR+tcp8intDYwa"
    "CG5OStVSZWWl/36Y/MizOa55Hevef14oKadRKZ1Q8bCTwUh4S2WuGgRcJUXlHxOVH87wq+Ypid/ukLEqd+ocwQBdmh+H"
    "ZCK964+hggPger2m6EpCVnNrIA7AO0yfmGmOLG+lJ76i7NfQzRMwLRsE5DMlw7YRr69WOwmqyyzKEOmSqMzd7jb8wzf3"
    "edAyXDJy8D01DCPM8UOyloD2IbjTFhF2dcSLiu51zXrBa+SIQiNcKcDHIHOykwl/niiwyohcuNOypJnYEeeObex1bDsX"
    "jPRrikMdiBrrk3B//q3iy2Sb5H3jVlFEjcOoOrSSFBJuTD6CRjmrdmDOBNadwd85ivrV6yL1MZZYopAzKrUDM/cod/jn"
    "47LcT1XHfB9iiYaqqPCcc/3HXWFgU5MtsDLV1ky42E9qeNuiVbxmtcKZ8vBOxg0LDqatB5b8jXANEJ+jVKBisCTW52Bt"
    "8o589+JgaRadTmDtLm4iiorh+nkxg9PQYrX9tK9iY+KNrqaw/ZDzmCmdDNad/AJic8SMpIJ7iLtywuyJg8Jy12PgD0lj"
    "+qZ0xxOHbFtFm20VjuqkwicgkuzJXfie1Eu1gTgbEIpGVkJ0pYBjrvFmw1IwA6dbuF1CD31D94j+yuJyfuy9m3WXJDrk"
    "H4d/yBBSulO4UNDKTDs+827dHUDIOV9rdkp2YiJaBss53Bqt6HvZtMjbH1mO68Vpet2VDUpVmPvjpAbKdZkeQaWMWALT"
    "+ExtM7Fo+0eWov+D1OI2L9u0Zx9YdjAi+1Z+BPOg4emKJMMQjz0xr4+8Ul3ju6+Y0ryu8nZwbB2QvNFEqAsr7XuAOdmT"
    "LNj/2RCwz0FWbmPTNL/v072+tuKrVxNmlsh/ZAmr04emQf1DxOYWvtSs3bDB7U/jKru1F8h7DgkAbTMjUKnhtppipOc2"
    "VD+WVzDWKsMukDPAPF9HIuqgACUK1/YQCpcm1Klk7bZ4GKKn82zUCiZqWGMRZOVyFaKLqh4mtMg4Fglb3ifSGNMe2Eq0"
    "eoTcDTJzfp91yFfLjr1z57d3J9Pme/uo1tzwYUWIasKVTwZQFGRgiibcQouwdls9+ifzJh0/BD9FLFx+y+WYtAPxlBn3"
    "dlddzGywU7/URtmLgr2zQx65PyQdb7RNy/zFt8jJ+Y9LyONYEkp0fIgQGdXXTPp4B4j/D7+/BQI="
)


@functools.cache
def simple_test_mask(total: int) -> tuple[bool, ...]:
    """``mask[i]``: is command ``i`` (in ``commands()`` order) in the official simple test set."""
    bits = zlib.decompress(base64.b64decode("".join(_TEST_BITS)))
    if len(bits) * 8 < total:
        raise ValueError(f"SCAN simple membership holds {len(bits) * 8} bits, need {total}")
    mask = tuple(bool(bits[i // 8] >> (i % 8) & 1) for i in range(total))
    if sum(mask) != TEST_COUNT:
        raise ValueError(f"SCAN simple membership marks {sum(mask)} commands, not {TEST_COUNT}")
    return mask
