from __future__ import annotations

from django import forms


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportUploadForm(forms.Form):
    files = MultipleFileField(
        label="CSV ファイル",
        help_text="stores.csv・coupons.csv・movements*.csv・store_sales.csv（複数選択可。順序は自動で並べ替えます）",
    )
    encoding = forms.ChoiceField(
        label="文字コード",
        choices=[("utf-8", "UTF-8（BOM 有無どちらも可）"), ("cp932", "Shift_JIS（cp932）")],
        initial="utf-8",
    )
