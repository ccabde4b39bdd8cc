# Django's ja locale has no input formats: travellers type 2023/02/24, 2023-02-24 or 2023年2月24日.
DATE_INPUT_FORMATS = ["%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日", "%Y%m%d"]
DATETIME_INPUT_FORMATS = [
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
]
DATE_FORMAT = "Y年n月j日"
DATETIME_FORMAT = "Y年n月j日 H:i"
SHORT_DATETIME_FORMAT = "Y/m/d H:i"
